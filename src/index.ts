/**
 * Strata as a library: the one public entry point (`import { Engine } from 'strata'`). An `Engine` opens one
 * storage root and is what the CLI itself runs on; everything else here is the types its methods take and return,
 * the pure helpers a caller needs around them (references, digests, the Dockerfile parser), the registry server,
 * and the error vocabulary. Nothing under src/ or dist/ is to be imported directly.
 */
export { Engine, defaultStorageDriver } from './engine.js';
export { ImageEngine, defaultRoot, type EngineOptions, type PruneImagesResult } from './image-engine.js';

export type { DiskUsage, HistoryRow, ImageSummary, ListOptions } from './images/query.js';
export type { ImageRecord } from './images/records.js';
export type { RemoveOptions, RemoveResult } from './images/store.js';
export type { ImportOptions } from './images/import.js';
export type { CheckReport } from './images/check.js';
export type { ContainerConfig, HistoryEntry, ImageConfig, Index, Manifest } from './images/model.js';
export { MediaType } from './images/model.js';
export { familiarString, formatReference, parseReference, repositoryName, type Reference } from './images/reference.js';
export { chainIds, digestOf, type Digest } from './util/digest.js';
export type { SaveFormat } from './archive/save.js';
export type { LayerRecord } from './layers/records.js';
export type { Change } from './layers/diff.js';

export type { BuildOptions, BuildReporter, BuildResult } from './builder/builder.js';
export type { ContextSource } from './builder/context.js';
export type { BuildCachePruneResult } from './builder/cache.js';
export { DockerfileError, parseAst, parseDockerfile } from './builder/dockerfile/index.js';
export type { AstResult, Instruction, Node, ParsedDockerfile, Stage } from './builder/dockerfile/index.js';

export type { ContainerRecord, ContainerState } from './containers/records.js';
export type { ContainerInspect } from './containers/inspect.js';
export type { RunOptions } from './containers/run-options.js';
export type { Attach } from './containers/monitor.js';
export type { CommitOptions } from './containers/commit.js';
export type { ExecOptions } from './containers/exec.js';
export type { LogEntry } from './containers/logs.js';
export type { Containers } from './containers/service.js';

export type { Progress } from './distribution/client/progress.js';
export type { PullOptions, PullResult } from './distribution/client/pull.js';
export type { PushOptions } from './distribution/client/push.js';
export type { Credentials } from './distribution/client/auth.js';
export { login, type RegistryOptions } from './distribution/client/registry.js';
export type { Timeouts as RegistryTimeouts } from './util/http.js';
export { collectGarbage as collectRegistryGarbage, createRegistryServer, FsRegistryStorage, type RegistryServerOptions, type RegistryStorage } from './distribution/registry/index.js';

export {
  type ErrorCode,
  errorCode,
  ExitStatusError,
  exitCodeFor,
  exitStatusOf,
  httpStatusFor,
  isAlreadyExists,
  isConflict,
  isDataCorrupt,
  isFailedPrecondition,
  isInternal,
  isInvalidArgument,
  isNotFound,
  isPermissionDenied,
  isUnauthenticated,
  isUnavailable,
  isUnsupported,
  StrataError,
} from './errors.js';
