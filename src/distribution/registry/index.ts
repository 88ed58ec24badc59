export { collectGarbage, type GcOptions, type GcReport } from './gc.js';
export { RegistryError, type SpecCode } from './errors.js';
export { FsRegistryStorage } from './fs-storage.js';
export { createRegistryServer, type RegistryServerOptions } from './server.js';
export type { RegistryStorage } from './storage.js';
