/**
 * The rollouts table exactly as template.yaml declares it (keys, attribute definitions and the
 * three indexes DynamoRollouts queries: byStart, the sparse byActive KEYS_ONLY, byRollout for the
 * events), read from the template itself so a test table cannot drift from the deployed one. For
 * moto_server: `createRolloutsTableFromTemplate` makes it with CreateTable, and
 * `rolloutTableResource` is the CloudFormation resource for a stack created in moto.
 */
import { CreateTableCommand, type CreateTableCommandInput, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { loadTemplate } from '../../scripts/build.ts';
import { loadDefinition } from '../../sim/workflow-runner.ts';

/** The table's schema as template.yaml has it (what CreateTable and CloudFormation both take). */
export type RolloutTableSchema = Pick<CreateTableCommandInput, 'BillingMode' | 'AttributeDefinitions' | 'KeySchema' | 'GlobalSecondaryIndexes'>;

const LOGICAL_ID = 'RolloutTable';

export async function rolloutTableSchema(): Promise<RolloutTableSchema> {
  const resource = (await loadTemplate()).Resources[LOGICAL_ID];
  if (resource?.Type !== 'AWS::DynamoDB::Table' || !resource.Properties) throw new Error(`template.yaml has no ${LOGICAL_ID} table`);
  const { BillingMode, AttributeDefinitions, KeySchema, GlobalSecondaryIndexes } = resource.Properties as RolloutTableSchema;
  // A copy: the caller may hand it to an SDK command, which must not change the template's objects.
  return structuredClone({ BillingMode, AttributeDefinitions, KeySchema, GlobalSecondaryIndexes });
}

/** CreateTable with template.yaml's schema. */
export async function createRolloutsTableFromTemplate(dynamo: DynamoDBClient, tableName: string): Promise<void> {
  await dynamo.send(new CreateTableCommand({ TableName: tableName, ...(await rolloutTableSchema()) }));
}

/** The table as a CloudFormation resource (a stack created in moto makes it with this schema). */
export async function rolloutTableResource(): Promise<{ Type: 'AWS::DynamoDB::Table'; Properties: RolloutTableSchema }> {
  return { Type: 'AWS::DynamoDB::Table', Properties: await rolloutTableSchema() };
}

/**
 * The smallest stack the CLI's stack commands work with, for CreateStack in moto: the two outputs
 * the CLI reads (StateMachineArn, RolloutTableName) over the resources they name (the real
 * rollout state machine definition, the table with template.yaml's schema).
 */
export async function cliStackTemplate(): Promise<Record<string, unknown>> {
  return {
    Resources: {
      RolloutTable: await rolloutTableResource(),
      RolloutStateMachine: {
        Type: 'AWS::StepFunctions::StateMachine',
        Properties: {
          StateMachineName: 'CanaryRollout',
          RoleArn: 'arn:aws:iam::123456789012:role/canary-rollout',
          DefinitionString: JSON.stringify(loadDefinition().definition),
        },
      },
    },
    Outputs: {
      StateMachineArn: { Value: { Ref: 'RolloutStateMachine' } },
      RolloutTableName: { Value: { Ref: 'RolloutTable' } },
    },
  };
}
