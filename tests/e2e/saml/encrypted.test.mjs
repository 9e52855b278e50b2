// Encrypted SAML assertions end to end: the worker built with SAML (build-saml/) in workerd, against npm samlify
// as the IdP, which reads the worker's SP metadata, takes the encryption certificate from its
// KeyDescriptor use="encryption", and encrypts the assertion with its own XML Encryption (npm
// @authenio/xml-encryption: AES-256-GCM content, RSA-OAEP-MGF1P key transport). The SP's key pair is the
// TEST-ONLY one in tests/fixtures/xml/xenc/. Connectors:
//   enc     sp_encryption_certificate + sp_decryption_key_binding (secret set): encrypted sign-ins work
//   nokey   no decryption key: an EncryptedAssertion is refused, and said so
//   badkey  the binding names a secret that is not set: config_error naming the binding
//   pkcs1   the secret holds a PKCS #1 PEM key; junkkey: PKCS #8 armour around something that is not a key —
//           config_error both, each saying what is wrong with the secret
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { assertLogged, assertNoSessionSet, assertRefusal, me, SESSION_COOKIE } from '../../support/assert.mjs';
import { Browserless, ROOT, startWorker } from '../../support/harness.mjs';
import { certificateBase64, SAML_WORKER_SCRIPT, samlLogin, startSamlIdp } from '../../support/saml-idp.mjs';

const XENC = path.join(ROOT, 'tests', 'fixtures', 'xml', 'xenc');
const SP_CERT = readFileSync(path.join(XENC, 'sp-cert.pem'), 'utf8');
const SP_KEY = readFileSync(path.join(XENC, 'sp-key.pem'), 'utf8');
const AES256_GCM = 'http://www.w3.org/2009/xmlenc11#aes256-gcm';
const AES256_CBC = 'http://www.w3.org/2001/04/xmlenc#aes256-cbc';
const RSA_OAEP_MGF1P = 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p';

let idp;
let worker;
let origin;
const metadata = {};

before(async () => {
  idp = await startSamlIdp({ encrypt: { data: AES256_GCM, key: RSA_OAEP_MGF1P } });
  const inline = { idp_entity_id: idp.entityId, idp_sso_url: idp.ssoUrl, idp_certificates: [idp.certificatePem] };
  worker = await startWorker({
    scriptPath: SAML_WORKER_SCRIPT,
    secrets: {
      SAML_SP_KEY: SP_KEY,
      SAML_PKCS1_KEY: SP_KEY.replaceAll('PRIVATE KEY', 'RSA PRIVATE KEY'),
      SAML_JUNK_KEY: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
    },
    config: {
      connectors: [
        { id: 'enc', kind: 'saml', domains: ['enc.example'], ...inline, sp_encryption_certificate: SP_CERT, sp_decryption_key_binding: 'SAML_SP_KEY' },
        { id: 'nokey', kind: 'saml', domains: ['nokey.example'], ...inline },
        { id: 'badkey', kind: 'saml', domains: ['badkey.example'], ...inline, sp_encryption_certificate: SP_CERT, sp_decryption_key_binding: 'SAML_MISSING_KEY' },
        { id: 'pkcs1', kind: 'saml', domains: ['pkcs1.example'], ...inline, sp_encryption_certificate: SP_CERT, sp_decryption_key_binding: 'SAML_PKCS1_KEY' },
        { id: 'junkkey', kind: 'saml', domains: ['junkkey.example'], ...inline, sp_encryption_certificate: SP_CERT, sp_decryption_key_binding: 'SAML_JUNK_KEY' },
      ],
    },
  });
  origin = worker.url;
  for (const id of ['enc', 'nokey', 'badkey', 'pkcs1', 'junkkey']) {
    const r = await fetch(`${origin}/auth/saml/${id}/metadata`);
    assert.equal(r.status, 200, `metadata of ${id}`);
    metadata[id] = await r.text();
  }
  idp.trustSp(metadata.enc);
  idp.trustSp(metadata.badkey);
  idp.trustSp(metadata.pkcs1);
  idp.trustSp(metadata.junkkey);
  // The IdP is set up to encrypt to the SP certificate although the connector has no key (an operator who
  // turned encryption on at the IdP only): the nokey SP's metadata with enc's KeyDescriptor.
  const keyDescriptor = /<md:KeyDescriptor use="encryption">.*<\/md:KeyDescriptor>/s.exec(metadata.enc)[0];
  idp.trustSp(metadata.nokey.replace('<md:NameIDFormat>', `${keyDescriptor}<md:NameIDFormat>`));
}, { timeout: 60_000 });

after(async () => {
  await worker?.dispose();
  await idp?.close();
}, { timeout: 30_000 });

const logOf = (mark) => `\nworker log:\n  ${worker.logs.since(mark).join('\n  ')}`;
const responseXml = (acs) => Buffer.from(acs.fields.SAMLResponse, 'base64').toString('utf8');

describe('SP metadata', () => {
  test('a connector with an encryption certificate publishes it (KeyDescriptor use="encryption") with the accepted algorithms; one without publishes none', () => {
    const descriptor = /<md:KeyDescriptor use="encryption">(.*)<\/md:KeyDescriptor>/s.exec(metadata.enc)?.[1];
    assert.ok(descriptor, metadata.enc);
    assert.equal(/<ds:X509Certificate>([^<]*)</.exec(descriptor)?.[1], certificateBase64(SP_CERT));
    assert.match(descriptor, new RegExp(`<md:EncryptionMethod Algorithm="${AES256_GCM}"/>`));
    assert.doesNotMatch(descriptor, /cbc/, 'AES-CBC is not offered');
    assert.doesNotMatch(metadata.nokey, /KeyDescriptor/);
  });
});

describe('encrypted sign-in', () => {
  test('samlify encrypts its signed assertion (AES-256-GCM, RSA-OAEP) to the metadata\'s certificate: the worker decrypts it and signs in', async () => {
    const b = new Browserless();
    const mark = worker.logs.mark();
    const { response, acs } = await samlLogin(b, { worker: origin, email: 'alice@enc.example' });
    const xml = responseXml(acs);
    // What was posted: an EncryptedAssertion with the algorithms asked for, no plaintext assertion, no visible
    // signature (the assertion's signature is inside the ciphertext; the Response is unsigned).
    assert.match(xml, /<saml:EncryptedAssertion\b/);
    assert.match(xml, new RegExp(`Algorithm="${AES256_GCM}"`));
    assert.match(xml, new RegExp(`Algorithm="${RSA_OAEP_MGF1P}"`));
    assert.doesNotMatch(xml, /<saml:Assertion\b|alice@enc\.example|<ds:Signature\b/);
    assert.equal(response.status, 302, `ACS\n${response.describe()}${logOf(mark)}`);
    assert.ok(response.setCookie(SESSION_COOKIE)?.value, response.describe());
    const session = await me(b, origin, 200);
    assert.equal(session.email, 'alice@enc.example');
    assert.equal(session.connector, 'enc');
  });

  test('signed Response, encrypted then signed (the signature covers the EncryptedAssertion): accepted', async () => {
    idp.trustSp(metadata.enc, { signResponse: true });
    idp.encryptThenSign = true;
    try {
      const b = new Browserless();
      const mark = worker.logs.mark();
      const { response, acs } = await samlLogin(b, { worker: origin, email: 'bob@enc.example' });
      assert.equal((responseXml(acs).match(/<ds:Signature\b/g) || []).length, 1, 'the Response\'s signature, outside');
      assert.equal(response.status, 302, `ACS\n${response.describe()}${logOf(mark)}`);
      assert.equal((await me(b, origin, 200)).email, 'bob@enc.example');
    } finally {
      idp.trustSp(metadata.enc);
      idp.encryptThenSign = false;
    }
  });

  test('signed Response, signed before encrypting (samlify\'s default order): the Response\'s signature no longer matches, refused before decryption', async () => {
    idp.trustSp(metadata.enc, { signResponse: true });
    try {
      const b = new Browserless();
      const mark = worker.logs.mark();
      const { response } = await samlLogin(b, { worker: origin, email: 'carol@enc.example' });
      assertRefusal(response, { code: 'saml_response_invalid' });
      assertNoSessionSet(response);
      await assertLogged(worker.logs, mark, /does not match its digest/, logOf(mark));
    } finally {
      idp.trustSp(metadata.enc);
    }
  });

  test('AES-CBC content encryption: refused, and the log says to use AES-GCM', async () => {
    const setting = idp.samlify.entitySetting;
    setting.dataEncryptionAlgorithm = AES256_CBC;
    try {
      const b = new Browserless();
      const mark = worker.logs.mark();
      const { response, acs } = await samlLogin(b, { worker: origin, email: 'dave@enc.example' });
      assert.match(responseXml(acs), new RegExp(`Algorithm="${AES256_CBC}"`));
      assertRefusal(response, { code: 'saml_response_invalid' });
      assertNoSessionSet(response);
      await assertLogged(worker.logs, mark, /AES-CBC content encryption .*AES-GCM/, logOf(mark));
    } finally {
      setting.dataEncryptionAlgorithm = AES256_GCM;
    }
  });

  test('a connector without sp_decryption_key_binding refuses an EncryptedAssertion, and says why', async () => {
    const b = new Browserless();
    const mark = worker.logs.mark();
    const { response } = await samlLogin(b, { worker: origin, email: 'erin@nokey.example' });
    assertRefusal(response, { code: 'saml_response_invalid' });
    assertNoSessionSet(response);
    await assertLogged(worker.logs, mark, /an EncryptedAssertion needs sp_decryption_key_binding/, logOf(mark));
  });

  test('the decryption key\'s secret is not set: config_error naming the binding (never a key)', async () => {
    const b = new Browserless();
    const mark = worker.logs.mark();
    const { response } = await samlLogin(b, { worker: origin, email: 'frank@badkey.example' });
    assertRefusal(response, { code: 'config_error' });
    assertNoSessionSet(response);
    const line = await assertLogged(worker.logs, mark, /SAML_MISSING_KEY.*is not set/, logOf(mark));
    assert.doesNotMatch(line, /PRIVATE KEY/);
  });

  for (const [id, reason] of [['pkcs1', /SAML_PKCS1_KEY.*is not a PKCS #8 PEM private key/], ['junkkey', /SAML_JUNK_KEY.*does not hold an RSA private key/]]) {
    test(`the decryption key's secret is unusable (${id}): config_error saying what is wrong with it`, async () => {
      const b = new Browserless();
      const mark = worker.logs.mark();
      const { response } = await samlLogin(b, { worker: origin, email: `grace@${id}.example` });
      assertRefusal(response, { code: 'config_error' });
      assertNoSessionSet(response);
      const line = await assertLogged(worker.logs, mark, reason, logOf(mark));
      assert.doesNotMatch(line, /MII|AAAA/, 'no key material in the log');
    });
  }
});
