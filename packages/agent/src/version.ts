// The agent's version: inlined by scripts/bundle.mjs from package.json, so start-up reads nothing from disk.

declare const __LODGE_AGENT_VERSION__: string | undefined;

export const AGENT_VERSION: string =
  typeof __LODGE_AGENT_VERSION__ === 'string' ? __LODGE_AGENT_VERSION__ : '0.0.0-dev';
