/** `authchart/testing/node`: the rotating token server over real HTTP on loopback (node:http). */
export { startTestServers } from './node-server.js';
export type { TestServers } from './node-server.js';
export { createTokenServer } from './token-server.js';
