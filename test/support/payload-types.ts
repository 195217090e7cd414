// Type aliases for the tests: the build result and the payload type under shorter names.
export type { BuildResult } from '../../src/mapping/contract.js';
export type { ExternalInstance as ExternalInstanceLike } from '../../src/feishu/external-instance.js';
