import type { Writable } from 'node:stream';
import type { CreateOptions } from '../containers/service.js';
import type { ImageStore } from '../images/store.js';
import type { Digest } from '../util/digest.js';
import type { BuildCache } from './cache.js';

/** A RUN step's container: created from the previous step's image, run once to its end, then removed. */
export interface StepContainer {
  readonly id: string;
  /** Runs the command to its end with its stdout and stderr on `output`; resolves with its exit code. */
  run(output: Writable): Promise<number>;
  /** The container's read-write layer: what the step changed. */
  upperDir(): string;
  remove(): Promise<void>;
}

/**
 * What the builder needs of the engine (after moby's builder.Backend): image lookup and new images, the build
 * cache, and containers for RUN. The engine gives the real one; tests can run the builder on another.
 */
export interface BuildBackend {
  readonly images: ImageStore;
  readonly cache: BuildCache;
  /** Holds the images the build stands on (bases, cached and new steps) against prunes while it runs. */
  readonly lease?: { readonly id: string; hold(imageId: Digest): boolean };
  createContainer(image: Digest, settings: CreateOptions['settings']): Promise<StepContainer>;
  /** Where RUN --mount=type=cache directories live, across builds. */
  readonly cacheMountsDir: string;
  /** An image's root filesystem as a directory (RUN --mount=from=...), writable, its writes discarded at release. */
  mountImage(image: Digest): Promise<{ dir: string; release(): void }>;
}
