/**
 * The page each tab loads in the DPoP browser suite: `createAuthFetch` with the cross-tab
 * store and lock, `oauthRefresher`, and the one DPoP key pair of the origin in IndexedDB
 * (`indexedDbDPoPKeys`), driven by the test through `window.dpopTab`. The sign-in's code
 * exchange happens here, with that key (the private key never leaves the browser).
 */
import * as oauth from 'oauth4webapi';
import { crossTab, indexedDbDPoPKeys } from '../../adapters/cross-tab/index.js';
import { createAuthFetch, type AuthFetch } from '../../adapters/fetch/index.js';
import { oauthRefresher } from '../../adapters/oauth/index.js';
import type { AuthorizedCode } from '../support/oidc-provider.js';

const b64u = (bytes: ArrayBuffer) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

async function thumbprint(pair: CryptoKeyPair): Promise<string> {
  const { crv, kty, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
  return b64u(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(JSON.stringify({ crv, kty, x, y }))));
}

function createDPoPTab() {
  let authFetch: AuthFetch | undefined;
  const keys = indexedDbDPoPKeys({ database: 'authchart-dpop-tabs' });
  const log: string[] = [];
  return {
    init(config: { tokenEndpoint: string; clientId: string; apiOrigin: string }) {
      const { store, lock, lockKind } = crossTab({ name: 'authchart-dpop-tabs' });
      authFetch = createAuthFetch({
        refresh: oauthRefresher({ tokenEndpoint: config.tokenEndpoint, clientId: config.clientId }),
        store,
        lock,
        dpop: keys,
        allowedOrigins: [config.apiOrigin],
        logger: (entry) => log.push(entry.type === 'state' ? `state:${entry.to}` : entry.type),
      });
      return lockKind;
    },
    /**
     * Sign in: a new key for the new session (rotate), the code exchanged with it (the
     * provider's nonce asked for and given once), the tokens handed to the session. Answers
     * with the access token, for the test to watch it expire at the provider.
     */
    async signIn(code: AuthorizedCode) {
      const keyPair = await keys.rotate();
      const as: oauth.AuthorizationServer = {
        issuer: code.issuer,
        authorization_endpoint: code.authorizationEndpoint,
        token_endpoint: code.tokenEndpoint,
        authorization_response_iss_parameter_supported: true,
      };
      const client: oauth.Client = { client_id: code.clientId };
      const params = oauth.validateAuthResponse(as, client, new URL(code.callbackUrl), code.state);
      const DPoP = oauth.DPoP(client, keyPair);
      const exchange = () =>
        oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, code.redirectUri, code.codeVerifier, {
          DPoP,
          [oauth.allowInsecureRequests]: true,
        });
      let result: oauth.TokenEndpointResponse;
      try {
        result = await oauth.processAuthorizationCodeResponse(as, client, await exchange());
      } catch (error) {
        if (!oauth.isDPoPNonceError(error)) throw error;
        result = await oauth.processAuthorizationCodeResponse(as, client, await exchange());
      }
      await authFetch!.login({ accessToken: result.access_token, refreshToken: result.refresh_token, tokenType: result.token_type });
      return { accessToken: result.access_token, tokenType: result.token_type };
    },
    /** Fire `count` requests at once; each one's status or error code. */
    async burst(api: string, count: number) {
      const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => authFetch!(`${api}/item-${i}?n=${i}`)));
      return results.map((r) => (r.status === 'fulfilled' ? r.value.status : ((r.reason as { code?: string }).code ?? String(r.reason))));
    },
    /** The thumbprint of the key pair this tab signs with (read from IndexedDB). */
    jkt: async () => thumbprint(await keys.getOrCreate()),
    /** Whether the private key can leave the browser (it must not). */
    privateKeyExtractable: async () => (await keys.getOrCreate()).privateKey.extractable,
    /** The access token this tab holds now, for the test to introspect. */
    accessToken: () => authFetch!.getAccessToken(),
    status: () => authFetch!.getStatus(),
    log: () => log,
  };
}

declare global {
  interface Window {
    dpopTab: ReturnType<typeof createDPoPTab>;
  }
}

window.dpopTab = createDPoPTab();
