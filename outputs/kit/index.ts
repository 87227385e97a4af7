/**
 * The output kit: everything an output needs besides the alert model (src/alert). Outputs import
 * from here (or a module of this folder), never from src/: the core depends on the kit, not the
 * reverse.
 */
export { defineOutput } from './define.js';
export type { ExampleTarget, Output, OutputDefinition, OutputDeps, OutputInstanceConfig, SendContext, SendResult } from './types.js';
export {
  brokerOptions,
  chatOptions,
  httpAuth,
  httpOptions,
  httpTransportOptions,
  httpUrl,
  keyTemplate,
  mentionOptions,
  mentionPrefix,
  mustacheTemplate,
  templateKeys,
  tlsOptions,
  type ChatConfig,
  type HttpTransportConfig,
  type TlsOptions,
} from './options.js';
export { DEFAULT_SEVERITY, SEVERITIES, alertFieldPath, priorityMap, priorityName, type Severity } from './common.js';
export { DeliveryError, isDeliveryError, type FailureReason } from './errors.js';
export { classifyHttpStatus, networkError, parseRetryAfter, type ClassifyOptions } from './classify.js';
export { redactUrl } from './redact.js';
export { pem, readKeyFile } from './files.js';
export { createHttpClient, httpClientFor, type HttpClient, type HttpRequest, type HttpResponse } from './http-client.js';
export { apiUrl } from './url.js';
export { basicAuth } from './auth.js';
export { byteSize, duration } from './duration.js';
export { renderKeyTemplate, slug, type KeyTemplateSyntax } from './key-template.js';
export { DEFAULT_MESSAGE, DEFAULT_TITLE, renderMessage, renderTemplate, renderTitle } from './template.js';
