/** `fastifyAuth` from authchart/server on real Fastify 5 servers (see support/suite.ts). */
import { serverIntegrationSuite } from './support/suite.js';

serverIntegrationSuite('fastify');
