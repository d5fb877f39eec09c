// A real OpenID Provider for prom's identity tests: the `oidc-provider`
// package (discovery, JWKS, authorization code flow with PKCE, the token
// endpoint, RP-initiated logout), with a few staff users in groups and two
// patients. Started by the tests (tests/it/identity.rs) on a free port;
// prints `listening <port>` when ready.
//
// Its own small login form (instead of the package's development one) so
// that each account logs in with its own `acr` and `amr`. Two test-only
// routes change the provider while it runs:
//   POST /test/rotate           a new signing key, the old one kept in the
//                               JWKS after it (a provider rotating its keys)
//   POST /test/forge?mode=M     the next ID tokens are altered: wrong_aud,
//                               expired, nonce, alg_none, foreign_key, or
//                               off to stop
//   POST /test/client?redirect=R&post_logout=P   prom's addresses
//   POST /test/groups?user=U&groups=G1,G2        a user's groups changed
//
// Environment: PROM_REDIRECTS (space-separated redirect URIs), and
// PROM_POST_LOGOUT (space-separated post-logout redirect URIs).

import * as http from 'node:http';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const redirects = (process.env.PROM_REDIRECTS || '').split(' ').filter(Boolean);
const postLogout = (process.env.PROM_POST_LOGOUT || '').split(' ').filter(Boolean);

// The people this provider knows: staff in groups, and patients with a
// national identifier and the assurance level of their login.
const ACCOUNTS = {
  nurse: { name: 'Nina Nurse', email: 'nina@hospital.example', groups: ['onko-sygepleje'], acr: 'mfa', amr: ['pwd', 'otp'] },
  doctor: { name: 'Dan Doctor', email: 'dan@hospital.example', groups: ['onko-laeger', 'alle-ansatte'], acr: 'mfa', amr: ['pwd', 'otp'] },
  admin: { name: 'Alma Admin', email: 'alma@hospital.example', groups: ['onko-admin'], acr: 'mfa', amr: ['pwd', 'otp'] },
  weak: { name: 'Walt Weak', email: 'walt@hospital.example', groups: ['onko-sygepleje'], acr: 'pwd', amr: ['pwd'] },
  nobody: { name: 'Nora Nobody', email: 'nora@hospital.example', groups: ['alle-ansatte'], acr: 'mfa', amr: ['pwd', 'otp'] },
  patient1: { name: 'Petra Patient', cpr: '0101701234', acr: 'https://data.gov.dk/concept/core/nsis/loa/Substantial', amr: ['mitid'] },
  patient2: { name: 'Poul Patient', cpr: '0202802345', acr: 'https://data.gov.dk/concept/core/nsis/loa/Substantial', amr: ['mitid'] },
  lowpatient: { name: 'Lis Low', cpr: '0303903456', acr: 'https://data.gov.dk/concept/core/nsis/loa/Low', amr: ['mitid'] },
};

// Accounts may be changed by the tests (a nurse moved to another group).
const groupsOverride = {};

async function newKey(kid) {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, kid, alg: 'RS256', use: 'sig' };
}

let keys = [await newKey('key-1')];
const foreign = await newKey('key-1'); // same kid, another key: a forger's
let forge = 'off';
let current;
let port;

function configuration() {
  return {
    clients: [
      {
        client_id: 'prom-staff',
        client_secret: 'staff-secret-for-tests-only',
        redirect_uris: redirects,
        post_logout_redirect_uris: postLogout,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: 'prom-patient',
        client_secret: 'patient-secret-for-tests-only',
        redirect_uris: redirects,
        post_logout_redirect_uris: postLogout,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true },
    },
    claims: {
      // Sent whenever set at the login, as a hospital's provider does.
      openid: ['sub', 'acr', 'amr'],
      email: ['email'],
      profile: ['name'],
      groups: ['groups'],
      cpr: ['dk_cpr'],
    },
    scopes: ['openid', 'email', 'profile', 'groups', 'cpr'],
    conformIdTokenClaims: false,
    acrValues: ['mfa', 'pwd', 'https://data.gov.dk/concept/core/nsis/loa/Substantial', 'https://data.gov.dk/concept/core/nsis/loa/Low'],
    async findAccount(ctx, sub) {
      const a = ACCOUNTS[sub];
      if (!a) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            name: a.name,
            email: a.email,
            groups: groupsOverride[sub] || a.groups,
            dk_cpr: a.cpr,
          };
        },
      };
    },
    // First-party clients: no consent screen.
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile groups cpr');
      await grant.save();
      return grant;
    },
    cookies: { keys: ['cookie-key-for-tests-only'] },
    ttl: { IdToken: 300, AccessToken: 300, AuthorizationCode: 60, Session: 3600, Interaction: 600, Grant: 3600 },
  };
}

function build() {
  const provider = new Provider(`http://127.0.0.1:${port}`, configuration());
  provider.proxy = false;
  // The tests' forgeries of the ID token, after the token endpoint made it.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/token' && ctx.method === 'POST' && forge !== 'off' && ctx.body && ctx.body.id_token) {
      ctx.body = { ...ctx.body, id_token: await forged(ctx.body.id_token) };
    }
  });
  return provider;
}

async function forged(token) {
  const claims = jose.decodeJwt(token);
  const now = Math.floor(Date.now() / 1000);
  if (forge === 'alg_none') {
    const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(claims)}.`;
  }
  if (forge === 'wrong_aud') claims.aud = 'someone-else';
  if (forge === 'expired') { claims.iat = now - 3600; claims.exp = now - 1800; }
  if (forge === 'nonce') claims.nonce = 'not-the-nonce-prom-sent';
  const key = forge === 'foreign_key' ? foreign : keys[0];
  return new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
    .sign(await jose.importJWK(key, 'RS256'));
}

function page(title, body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><main><h1>${title}</h1>${body}</main></body></html>`;
}

// The login form: any account of ACCOUNTS, any password.
async function interaction(req, res) {
  const url = new URL(req.url, `http://127.0.0.1:${port}`);
  const uid = url.pathname.split('/')[2];
  if (req.method === 'GET') {
    const details = await current.interactionDetails(req, res);
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(page('Sign in', `<form method="post" action="/interaction/${uid}">
      <label for="login">User</label> <input id="login" name="login" autocomplete="username" required>
      <label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required>
      <input type="hidden" name="prompt" value="${details.prompt.name}">
      <button type="submit">Sign in</button></form>`));
    return;
  }
  let body = '';
  for await (const chunk of req) body += chunk;
  const form = new URLSearchParams(body);
  const login = form.get('login');
  const account = ACCOUNTS[login];
  if (!account) {
    res.statusCode = 401;
    res.end(page('Unknown user', '<p>No such user.</p>'));
    return;
  }
  await current.interactionFinished(req, res, {
    login: { accountId: login, acr: account.acr, amr: account.amr, remember: false },
  }, { mergeWithLastSubmission: false });
}

async function testRoute(req, res) {
  const url = new URL(req.url, `http://127.0.0.1:${port}`);
  if (url.pathname === '/test/rotate') {
    keys = [await newKey(`key-${keys.length + 1}`), ...keys];
    current = build();
  } else if (url.pathname === '/test/forge') {
    forge = url.searchParams.get('mode') || 'off';
  } else if (url.pathname === '/test/client') {
    // prom's addresses, known once it listens.
    redirects.push(url.searchParams.get('redirect'));
    postLogout.push(url.searchParams.get('post_logout'));
    current = build();
  } else if (url.pathname === '/test/groups') {
    groupsOverride[url.searchParams.get('user')] = (url.searchParams.get('groups') || '').split(',').filter(Boolean);
  }
  res.end('ok');
}

const server = http.createServer((req, res) => {
  if (req.url.startsWith('/test/') && req.method === 'POST') {
    testRoute(req, res).catch((e) => { res.statusCode = 500; res.end(String(e)); });
  } else if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((e) => { res.statusCode = 500; res.end(String(e)); });
  } else {
    current.callback()(req, res);
  }
});

server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  port = server.address().port;
  current = build();
  process.stdout.write(`listening ${port}\n`);
});
