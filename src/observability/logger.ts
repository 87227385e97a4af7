import pino, { type Logger } from 'pino';

/**
 * Paths pino blanks in every log line. Outputs never log their config, but a stray object that
 * holds a URL, token or header must not leak its secret either.
 */
export const REDACT_PATHS = [
  'url',
  '*.url',
  'webhookUrl',
  '*.webhookUrl',
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
  'token',
  '*.token',
  'routingKey',
  '*.routingKey',
  'password',
  '*.password',
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'falconet' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ dest: 2, sync: false }),
  );
}
