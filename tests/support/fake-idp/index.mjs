// The fake identity providers of the JavaScript suites and the benchmark, in one place:
//  - op.mjs      a scriptable OpenID Provider (startHostileOp): a correct provider unless a case says otherwise,
//                and then anything an attacker could send (the attack suites; the benchmark's local OP);
//  - shapes.mjs  providers shaped like Microsoft Entra ID, Google and Facebook Login + Graph API;
//  - jose.mjs    keys and raw JWS signing for both;
//  - codec.mjs   edge-auth's cookie codec (and cached-document MAC), to forge and read cookies.
// The real, certified provider (npm oidc-provider) is dev/idp.mjs; the worker-side glue is tests/support/stacks.mjs.
export * from './codec.mjs';
export * from './jose.mjs';
export * from './op.mjs';
export * from './shapes.mjs';
