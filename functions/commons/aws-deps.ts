/**
 * Wires the steps' ports to AWS: one adapter per service, each created once per Lambda
 * container from the stack's environment (see template.yaml), and only when a Lambda asks for
 * it. Each handler names the ports its step uses (`depsWith({ traffic, rollouts })`), so its
 * bundle carries only those SDK clients and its cold start builds only those.
 */
import { AppConfigClient } from '@aws-sdk/client-appconfig';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { Route53Client } from '@aws-sdk/client-route-53';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { AlarmVerifier } from '../adapters/alarm-verifier.ts';
import { AlbRouter } from '../adapters/alb-router.ts';
import { AppConfigRouter } from '../adapters/appconfig-router.ts';
import { CloudWatchMetrics } from '../adapters/cloudwatch-metrics.ts';
import { HttpVerifier } from '../adapters/http-verifier.ts';
import { LambdaAliasRouter } from '../adapters/lambda-alias-router.ts';
import { LambdaHooks, LambdaVerifier } from '../adapters/lambda-verifier.ts';
import { SsmAutomationHooks } from '../adapters/ssm-automation-hook.ts';
import { DynamoRollouts } from '../adapters/dynamodb-store.ts';
import { DynamoSoakStore } from '../adapters/dynamodb-soak-store.ts';
import { IncidentNotifier, buildIncidentTargets } from '../adapters/incident-targets.ts';
import { Route53Traffic, route53RegionFor } from '../adapters/route53-traffic.ts';
import { SfnExecutions } from '../adapters/sfn-executions.ts';
import { S3Evidence } from '../adapters/s3-evidence.ts';
import type { Deps, IncidentPort } from '../core/ports.ts';
import { routerAllowancesFromEnv } from '../core/targets.ts';
import { routeTraffic } from '../core/traffic-router.ts';
import {
  routeHooks, routeVerification, verificationAllowListFromEnv, type HookPort, type VerificationPort,
} from '../core/verification.ts';
import { defaultJudge } from '../core/default-judge.ts';
import { decisionMetrics, logger } from './powertools.ts';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set (it comes from template.yaml)`);
  return value;
}

const memos: { reset(): void }[] = [];

/** A value built on first use and kept for the container's life (or until resetAwsDeps). */
function once<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  memos.push({ reset: () => (built = undefined) });
  return () => (built ??= { value: build() }).value;
}

const clientConfig = () => ({
  region: process.env.AWS_REGION,
  endpoint: process.env.CANARY_AWS_ENDPOINT || undefined, // moto_server in tests
  maxAttempts: 3,
});
const documentClient = /* @__PURE__ */ once(() =>
  DynamoDBDocumentClient.from(new DynamoDBClient(clientConfig()), { marshallOptions: { removeUndefinedValues: true } }));

// Route 53 is a global service: its API lives in one region of the stack's partition.
const route53Router = /* @__PURE__ */ once(() => new Route53Traffic(new Route53Client({ ...clientConfig(), region: route53RegionFor(process.env.AWS_REGION) })));
const albRouter = /* @__PURE__ */ once(() => new AlbRouter(new ElasticLoadBalancingV2Client(clientConfig())));
const lambdaAliasRouter = /* @__PURE__ */ once(() => new LambdaAliasRouter(new LambdaClient(clientConfig())));
const appConfigRouter = /* @__PURE__ */ once(() => new AppConfigRouter(new AppConfigClient(clientConfig())));
/**
 * The traffic port: the router of the target's kind (core/traffic-router.ts), each router and its
 * SDK client built the first time a target of its kind is met.
 */
export const traffic = /* @__PURE__ */ once(() => routeTraffic({
  route53: route53Router, alb: albRouter, 'lambda-alias': lambdaAliasRouter, 'appconfig-flag': appConfigRouter,
}));
export const metrics = /* @__PURE__ */ once(() => new CloudWatchMetrics(new CloudWatchClient(clientConfig())));
export const executions = /* @__PURE__ */ once(() => new SfnExecutions(new SFNClient(clientConfig())));
export const rollouts = /* @__PURE__ */ once(() => new DynamoRollouts(documentClient(), required('TABLE_NAME')));
export const soaks = /* @__PURE__ */ once(() => new DynamoSoakStore(documentClient(), required('TABLE_NAME')));
/** Optional: without a bucket (tests, old stacks) only the rollout record keeps the evidence. */
export const evidence = /* @__PURE__ */ once(() => {
  const bucket = process.env.EVIDENCE_BUCKET;
  return bucket ? new S3Evidence(new S3Client({ ...clientConfig(), forcePathStyle: Boolean(clientConfig().endpoint) }), bucket) : undefined;
});
export const incidents = /* @__PURE__ */ once((): IncidentPort => {
  const clients = {
    sns: new SNSClient(clientConfig()), ssm: new SSMClient(clientConfig()), secrets: new SecretsManagerClient(clientConfig()),
    stackTopicArn: required('TOPIC_ARN'),
  };
  return {
    open: (incident, routing) => new IncidentNotifier(buildIncidentTargets(routing, clients)).open(incident),
    update: (incident, routing, change, opened) => new IncidentNotifier(buildIncidentTargets(routing, clients)).update(incident, routing, change, opened),
  };
});

/** A port whose adapter is built the first time it runs something. */
function lazyPort<P extends { run: (...args: never[]) => Promise<unknown> }>(build: () => P): P {
  const built = once(build);
  return { run: (...args: Parameters<P['run']>) => built().run(...args) } as unknown as P;
}

// Checks and hooks count their retries themselves, within their deadline: the SDK does not retry.
const noRetry = () => ({ ...clientConfig(), maxAttempts: 1 });
const wallClock = { now: () => new Date() };
/** Verification checks and gates: a Lambda invoked, a signed HTTPS POST, CloudWatch alarms. */
export const verification = /* @__PURE__ */ once((): VerificationPort => routeVerification({
  lambda: lazyPort(() => new LambdaVerifier(new LambdaClient(noRetry()))),
  http: lazyPort(() => new HttpVerifier({ secrets: new SecretsManagerClient(noRetry()) })),
  alarm: lazyPort(() => new AlarmVerifier(new CloudWatchClient(noRetry()))),
}, wallClock));
/** Action hooks: a Lambda (asynchronous or request-response), an SSM Automation runbook. */
export const hooks = /* @__PURE__ */ once((): HookPort => routeHooks({
  lambda: lazyPort(() => new LambdaHooks(new LambdaClient(noRetry()))),
  'ssm-automation': lazyPort(() => new SsmAutomationHooks(new SSMClient(noRetry()))),
}, wallClock));

type PortName = 'traffic' | 'metrics' | 'rollouts' | 'incidents' | 'soaks' | 'evidence' | 'executions' | 'verification' | 'hooks';

/** A port this Lambda did not wire: using it is a bug of ours, said loudly. */
function notWired(name: string): never {
  return new Proxy({}, {
    get: (_t, prop) => {
      throw new Error(`the ${name} port is not wired in this Lambda (asked for ${String(prop)}); add it to the handler's depsWith(...)`);
    },
  }) as never;
}

let overrides: Partial<Deps> = {};

/** The step's dependencies: the given ports, the common ones, then any test/local overrides. */
export function depsWith(ports: Partial<Pick<Deps, PortName>>): Deps {
  const stackName = process.env.STACK_NAME || undefined;
  return {
    traffic: notWired('traffic'), metrics: notWired('metrics'),
    rollouts: notWired('rollouts'), incidents: notWired('incidents'),
    ...ports,
    judge: defaultJudge,
    clock: { now: () => new Date() },
    log: logger,
    decisionMetrics,
    allowedHostedZoneIds: (process.env.ALLOWED_HOSTED_ZONE_IDS ?? '').split(',').map((z) => z.trim()).filter(Boolean),
    allowedRecordNames: (process.env.ALLOWED_RECORD_NAMES ?? '').split(',').map((n) => n.trim()).filter(Boolean),
    // The stack's parameters (template.yaml): what the routers may re-weight, and what checks and hooks may use.
    routerAllowances: routerAllowancesFromEnv(process.env),
    verificationAllowList: verificationAllowListFromEnv(process.env),
    reportCommand: (rolloutId) => `canary report ${rolloutId}${stackName ? ` --stack ${stackName}` : ''}`,
    consoleLink: (arn) => `https://${arn.split(':')[3]}.console.aws.amazon.com/states/home?region=${arn.split(':')[3]}#/v2/executions/details/${arn}`,
    ...overrides,
  };
}

/** Every port wired (tests and tools that run several steps in one process). */
export function awsDeps(): Deps {
  return depsWith({
    traffic: traffic(), metrics: metrics(), rollouts: rollouts(), incidents: incidents(), soaks: soaks(), evidence: evidence(), executions: executions(),
    verification: verification(), hooks: hooks(),
  });
}

/**
 * Replaces some of the wired ports (tests and local runs: an in-memory store, a simulated
 * clock). The handlers then run unchanged on top of them.
 */
export function overrideAwsDeps(partial: Partial<Deps>): void {
  overrides = { ...overrides, ...partial };
}

/** Forgets the overrides and the wired clients (tests change the environment between cases). */
export function resetAwsDeps(): void {
  overrides = {};
  for (const memo of memos) memo.reset();
}
