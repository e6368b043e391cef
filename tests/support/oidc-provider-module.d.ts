/**
 * The part of oidc-provider (v9, which ships no types) that the test fixture uses.
 * @see https://github.com/panva/node-oidc-provider/blob/main/docs/README.md
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface OidcError extends Error {
    error: string;
    error_description?: string;
    /** What exactly failed (`refresh token already used`, …); not sent to the client. */
    error_detail?: string;
    status: number;
  }

  export interface KoaContextWithOIDC {
    oidc: { params?: Record<string, unknown>; client?: { clientId: string } };
  }

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    readonly issuer: string;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    on(event: 'grant.success', listener: (ctx: KoaContextWithOIDC) => void): this;
    on(event: 'grant.error', listener: (ctx: KoaContextWithOIDC, error: OidcError) => void): this;
    on(event: 'grant.revoked', listener: (ctx: KoaContextWithOIDC, grantId: string) => void): this;
    on(event: 'server_error', listener: (ctx: KoaContextWithOIDC, error: Error) => void): this;
    on(event: string, listener: (...args: never[]) => void): this;
  }
}
