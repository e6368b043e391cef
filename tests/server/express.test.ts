/** `expressAuth` from authchart/server on real Express 5 servers (see support/suite.ts). */
import { serverIntegrationSuite } from './support/suite.js';

serverIntegrationSuite('express');
