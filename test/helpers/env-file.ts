export { parseEnvFile } from '../../src/migrate/source.js';
