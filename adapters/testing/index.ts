/**
 * `authchart/testing`: a rotating OAuth token server (strict reuse detection, injectable
 * faults) and msw handlers serving it, for your own tests. Needs `msw` 2.
 */
export { createTokenServer, resourceReply, issuedSecrets } from './token-server.js';
export type { TokenServer, TokenServerOptions, TokenServerFault, TokenServerReply, TokenCall, ResourceCheck } from './token-server.js';
export { tokenServerHandlers, testUrls } from './msw-handlers.js';
export type { TokenServerHandlerOptions } from './msw-handlers.js';
