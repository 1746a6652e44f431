/**
 * `npm run build`: bundles every esbuild function of template.yaml the way `sam build` does,
 * from the same Metadata.BuildProperties, into dist/<LogicalId>/. The tests load these bundles,
 * so the code they exercise is built exactly as the deployed code is.
 *
 * Also exports the template parsing (CloudFormation's short-form intrinsics as plain
 * `{ "Fn::X": ... }` objects) for the template tests.
 */
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type BuildOptions, type Format, type Loader, type Metafile } from 'esbuild';
import { parse, type CollectionTag, type ScalarTag, type YAMLMap, type YAMLSeq } from 'yaml';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const TEMPLATE_PATH = join(ROOT, 'template.yaml');
export const DIST_DIR = join(ROOT, 'dist');

// ------------------------------------------------------------------------------------------
// Template parsing
// ------------------------------------------------------------------------------------------

/** Short-form intrinsics (`!Name`) and the long form they stand for. */
const INTRINSICS: Record<string, string> = {
  Ref: 'Ref',
  Condition: 'Condition',
  GetAtt: 'Fn::GetAtt',
  Sub: 'Fn::Sub',
  If: 'Fn::If',
  Join: 'Fn::Join',
  Split: 'Fn::Split',
  Select: 'Fn::Select',
  Equals: 'Fn::Equals',
  Not: 'Fn::Not',
  And: 'Fn::And',
  Or: 'Fn::Or',
  FindInMap: 'Fn::FindInMap',
  Base64: 'Fn::Base64',
  Cidr: 'Fn::Cidr',
  GetAZs: 'Fn::GetAZs',
  ImportValue: 'Fn::ImportValue',
  Transform: 'Fn::Transform',
  Length: 'Fn::Length',
  ToJsonString: 'Fn::ToJsonString',
  Contains: 'Fn::Contains',
  EachMemberEquals: 'Fn::EachMemberEquals',
  EachMemberIn: 'Fn::EachMemberIn',
  ValueOf: 'Fn::ValueOf',
  ValueOfAll: 'Fn::ValueOfAll',
  RefAll: 'Fn::RefAll',
};

const toJs = (node: YAMLSeq | YAMLMap): unknown => node.toJSON();

/** yaml tags turning `!Ref X`, `!Sub [...]`, `!If [...]`... into their JSON form, in every node shape. */
export const CFN_TAGS: Array<ScalarTag | CollectionTag> = Object.entries(INTRINSICS).flatMap(([short, long]) => [
  {
    tag: `!${short}`,
    // `!GetAtt Resource.Attribute` is the one scalar short form that is not the value as-is.
    resolve: (value: string) => {
      if (long !== 'Fn::GetAtt') return { [long]: value };
      const dot = value.indexOf('.');
      return { [long]: dot < 0 ? [value] : [value.slice(0, dot), value.slice(dot + 1)] };
    },
  } satisfies ScalarTag,
  { tag: `!${short}`, collection: 'seq', resolve: (value) => ({ [long]: toJs(value) }) } satisfies CollectionTag,
  { tag: `!${short}`, collection: 'map', resolve: (value) => ({ [long]: toJs(value) }) } satisfies CollectionTag,
]);

export type CfnTemplate = {
  Globals?: { Function?: Record<string, unknown> };
  Parameters?: Record<string, Record<string, unknown>>;
  Conditions?: Record<string, unknown>;
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown>; Condition?: string }>;
  Outputs?: Record<string, { Value: unknown }>;
} & Record<string, unknown>;

export function parseTemplate(text: string): CfnTemplate {
  const template = parse(text, { customTags: CFN_TAGS, maxAliasCount: -1 }) as CfnTemplate | null;
  if (!template || typeof template !== 'object' || !template.Resources) throw new Error('template has no Resources');
  return template;
}

export async function loadTemplate(path = TEMPLATE_PATH): Promise<CfnTemplate> {
  return parseTemplate(await readFile(path, 'utf8'));
}

// ------------------------------------------------------------------------------------------
// esbuild functions
// ------------------------------------------------------------------------------------------

/** Metadata.BuildProperties of `BuildMethod: esbuild`, as SAM reads them. */
export interface EsbuildProperties {
  EntryPoints?: string[];
  Format?: string;
  Target?: string;
  Minify?: boolean;
  Sourcemap?: boolean;
  External?: string[];
  Banner?: string[];
  Footer?: string[];
  OutExtension?: string[];
  Loader?: string[];
  MainFields?: string;
  /** SAM passes it to the esbuild CLI as text: write 'false' (a YAML false becomes "False"). */
  SourcesContent?: boolean | 'true' | 'false';
}

export interface EsbuildFunction {
  logicalId: string;
  handler: string;
  runtime: string | undefined;
  /** Absolute directory of CodeUri (where SAM runs esbuild). */
  codeDir: string;
  /** Entry points, relative to codeDir. */
  entryPoints: string[];
  properties: EsbuildProperties;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every AWS::Serverless::Function built with esbuild, with Globals.Function applied. */
export function esbuildFunctions(template: CfnTemplate, root = ROOT): EsbuildFunction[] {
  const globals = isRecord(template.Globals?.Function) ? template.Globals.Function : {};
  const out: EsbuildFunction[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Serverless::Function') continue;
    const props = { ...globals, ...resource.Properties };
    const metadata = resource.Metadata ?? {};
    if (metadata.BuildMethod !== 'esbuild') continue;
    const properties = (isRecord(metadata.BuildProperties) ? metadata.BuildProperties : {}) as EsbuildProperties;
    if (typeof props.Handler !== 'string') throw new Error(`${logicalId}: Handler must be a string`);
    if (typeof props.CodeUri !== 'string') throw new Error(`${logicalId}: CodeUri must be a local path for an esbuild build`);
    // Without EntryPoints, SAM bundles the Handler's file.
    const entryPoints = properties.EntryPoints ?? [props.Handler.slice(0, props.Handler.lastIndexOf('.'))];
    out.push({
      logicalId,
      handler: props.Handler,
      runtime: typeof props.Runtime === 'string' ? props.Runtime : undefined,
      codeDir: resolve(root, props.CodeUri),
      entryPoints,
      properties,
    });
  }
  return out;
}

/** `["k=v", ...]`, SAM's form of esbuild's map options, as an object. */
function keyValues(list: string[] | undefined, what: string): Record<string, string> | undefined {
  if (!list) return undefined;
  if (!Array.isArray(list)) throw new Error(`${what} must be a list of key=value strings`);
  return Object.fromEntries(list.map((item) => {
    const eq = item.indexOf('=');
    if (eq < 1) throw new Error(`${what}: '${item}' is not key=value`);
    return [item.slice(0, eq), item.slice(eq + 1)];
  }));
}

/** SAM adds .ts / .js to an entry point given without an extension. */
async function explicitEntry(codeDir: string, entry: string): Promise<string> {
  const candidates = extname(entry) ? [entry] : [`${entry}.ts`, `${entry}.js`];
  for (const candidate of candidates) {
    if (await stat(join(codeDir, candidate)).then((s) => s.isFile(), () => false)) return candidate;
  }
  throw new Error(`entry point ${join(codeDir, entry)} does not exist`);
}

/**
 * The esbuild options `sam build` would use (aws-lambda-builders' nodejs_npm_esbuild: bundle,
 * platform node, outdir; target es2020, format cjs and minify by default), plus a metafile.
 */
export function esbuildOptions(fn: EsbuildFunction, entryPoints: string[], outdir: string): BuildOptions & { metafile: true } {
  const p = fn.properties;
  if (typeof p.SourcesContent === 'boolean') {
    // `sam build` would run esbuild with --sources-content=True/False, which esbuild rejects.
    throw new Error(`${fn.logicalId}: SourcesContent must be the string '${p.SourcesContent}', not a boolean (SAM passes it to the esbuild CLI as Python's '${p.SourcesContent ? 'True' : 'False'}')`);
  }
  const banner = keyValues(p.Banner, 'Banner');
  const footer = keyValues(p.Footer, 'Footer');
  const outExtension = keyValues(p.OutExtension, 'OutExtension');
  const loader = keyValues(p.Loader, 'Loader') as Record<string, Loader> | undefined;
  return {
    absWorkingDir: fn.codeDir,
    entryPoints,
    outdir,
    bundle: true,
    platform: 'node',
    format: (p.Format ?? 'cjs') as Format,
    target: (p.Target ?? 'es2020').split(','),
    minify: p.Minify ?? true,
    sourcemap: p.Sourcemap ?? false,
    ...(p.SourcesContent !== undefined ? { sourcesContent: String(p.SourcesContent) === 'true' } : {}),
    external: p.External ?? [],
    mainFields: (p.MainFields ?? 'module,main').split(','),
    ...(banner ? { banner } : {}),
    ...(footer ? { footer } : {}),
    ...(outExtension ? { outExtension } : {}),
    ...(loader ? { loader } : {}),
    metafile: true,
    logLevel: 'warning',
  };
}

export interface BundleResult {
  logicalId: string;
  handler: string;
  outdir: string;
  /** The bundle the Handler names, absolute. */
  bundle: string;
  bytes: number;
  sourcemapBytes: number;
  metafile: Metafile;
}

/** Bundles one function into `<distDir>/<LogicalId>/` and checks its Handler names the bundle. */
export async function buildFunction(fn: EsbuildFunction, distDir = DIST_DIR): Promise<BundleResult> {
  const outdir = join(distDir, fn.logicalId);
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const entryPoints = await Promise.all(fn.entryPoints.map((e) => explicitEntry(fn.codeDir, e)));
  const result = await build(esbuildOptions(fn, entryPoints, outdir));
  if (result.errors.length) throw new Error(`${fn.logicalId}: esbuild failed`);

  // The Lambda runtime loads `<module>.mjs|.js|.cjs` from the artifact root for `<module>.<export>`.
  const dot = fn.handler.lastIndexOf('.');
  const handlerModule = fn.handler.slice(0, dot);
  const outputs = Object.entries(result.metafile.outputs).filter(([, o]) => o.entryPoint !== undefined);
  const modules = outputs.map(([file]) => {
    const rel = relative(outdir, resolve(fn.codeDir, file)).split('\\').join('/');
    return { file: resolve(fn.codeDir, file), module: rel.slice(0, rel.length - extname(rel).length) };
  });
  const match = modules.find((m) => m.module === handlerModule && ['.mjs', '.js', '.cjs'].includes(extname(m.file)));
  if (dot < 1 || !match) {
    throw new Error(
      `${fn.logicalId}: Handler '${fn.handler}' names module '${handlerModule}', but esbuild wrote ` +
      `${modules.map((m) => `'${relative(outdir, m.file)}'`).join(', ') || 'no entry bundle'} to ${relative(ROOT, outdir)}/. ` +
      `With one entry point, esbuild drops the entry's directories: Handler should be '${modules[0]?.module ?? basename(handlerModule)}${fn.handler.slice(dot)}'.`,
    );
  }
  await writeFile(join(distDir, `${fn.logicalId}.meta.json`), JSON.stringify(result.metafile));
  const bytes = (await stat(match.file)).size;
  const sourcemapBytes = await stat(`${match.file}.map`).then((s) => s.size, () => 0);
  return { logicalId: fn.logicalId, handler: fn.handler, outdir, bundle: match.file, bytes, sourcemapBytes, metafile: result.metafile };
}

/** Builds every esbuild function of the template (in parallel). */
export async function buildAll(options: { templatePath?: string; distDir?: string; only?: string[] } = {}): Promise<BundleResult[]> {
  const template = await loadTemplate(options.templatePath);
  const functions = esbuildFunctions(template, dirname(options.templatePath ?? TEMPLATE_PATH))
    .filter((f) => !options.only?.length || options.only.includes(f.logicalId));
  if (functions.length === 0) throw new Error('no AWS::Serverless::Function with BuildMethod: esbuild in the template');
  return Promise.all(functions.map((f) => buildFunction(f, options.distDir)));
}

const kib = (bytes: number) => (bytes / 1024).toFixed(1);

export function sizeTable(results: BundleResult[]): string {
  const rows = results.map((r) => [r.logicalId, relative(ROOT, r.bundle), kib(r.bytes), kib(r.sourcemapBytes)]);
  const total = results.reduce((sum, r) => sum + r.bytes, 0);
  const totalMaps = results.reduce((sum, r) => sum + r.sourcemapBytes, 0);
  const header = ['Function', 'Bundle', 'KiB', 'Map KiB'];
  const footer = ['Total', '', kib(total), kib(totalMaps)];
  const all = [header, ...rows, footer];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((cell, i) => (i >= 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...rows.map(line), rule, line(footer)].join('\n');
}

async function main(): Promise<void> {
  const started = performance.now();
  const results = await buildAll({ only: process.argv.slice(2) });
  console.log(sizeTable(results));
  console.log(`\nBuilt ${results.length} function(s) into ${relative(ROOT, DIST_DIR)}/ in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((error: unknown) => {
    console.error(`build failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
