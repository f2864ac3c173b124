// The zod-free part of the contract: what the CLI and client need at start-up without loading a schema library.
export * from './size.js';
export * from './error-code.js';
export * from './lodge-error.js';
export * from './routes.js';
export * from './data-root.js';
export * from './daemon-launch.js';
export * from './vm-defaults.js';
export * from './resource-values.js';
export * from './duration.js';
export * from './guest-api.js';
// Types only: erased at run time, so importing them costs nothing.
export type * from './vm-spec.js';
export type * from './vm-state.js';
export type * from './operation.js';
export type * from './event.js';
export type * from './host.js';
export type * from './image.js';
export type * from './vm-resources.js';
export type * from './metrics.js';
export type * from './first-boot.js';
export type * from './image-recipe.js';
