/** A script that makes one authenticated call and ends, never disposing its session. */
import { createSession } from '../../adapters/index.js';

const session = createSession({
  refresh: async () => ({ accessToken: 'next', refreshToken: 'rt-next', expiresIn: 3600 }),
  tokens: { accessToken: 'opaque-token', refreshToken: 'rt' },
});
console.log(`token: ${await session.getAccessToken()}`);
