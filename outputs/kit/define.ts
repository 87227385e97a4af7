import { z } from 'zod';
import { commonOutputShape } from './common.js';
import type { OutputDefinition, OutputInstanceConfig } from './types.js';

/**
 * Declares an output. An identity at run time; for the compiler it ties the option schema to
 * `create` and `check`, so an output reads `config.url` typed as its schema says, and the registry
 * holds definitions without erasing them to `any`.
 */
export function defineOutput<const Options extends z.ZodRawShape>(definition: OutputDefinition<Options>): OutputDefinition<Options> {
  if (definition.transport !== 'local' && !definition.example) {
    throw new Error(`output type "${definition.type}": an example config is required (the conformance suite runs it)`);
  }
  return definition;
}

const SCHEMAS = new WeakMap<OutputDefinition, z.ZodType>();

/** The whole schema of one instance: the common keys (timeout, retry, batch…) and the output's own. */
export function outputConfigSchema<Options extends z.ZodRawShape>(definition: OutputDefinition<Options>): z.ZodType<OutputInstanceConfig<Options>> {
  let schema = SCHEMAS.get(definition as OutputDefinition);
  if (!schema) {
    schema = z.strictObject({ ...commonOutputShape, ...definition.options });
    SCHEMAS.set(definition as OutputDefinition, schema);
  }
  return schema as z.ZodType<OutputInstanceConfig<Options>>;
}
