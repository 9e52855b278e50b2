// Test certificates, made at run time with openssl (nothing committed that could expire): a self-signed
// certificate for a TLS front on 127.0.0.1, or for a key the caller brings (the x5c attack in attacks/jose).
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * A self-signed X.509 certificate (valid from now for `days` days). Throws when openssl is missing: the tests
 * that need one fail instead of skipping (scripts/setup.sh installs openssl).
 * @param {object} [opts]
 * @param {import('node:crypto').KeyObject} [opts.privateKey] default: a fresh P-256 key
 * @param {string} [opts.cn="127.0.0.1"]
 * @param {string[]} [opts.altNames] subjectAltName entries, e.g. ["IP:127.0.0.1", "DNS:localhost"]
 * @param {number} [opts.days=2]
 * @returns {{ keyPem: string, certPem: string, certDer: Buffer, privateKey: import('node:crypto').KeyObject }}
 */
export function selfSignedCert({ privateKey, cn = '127.0.0.1', altNames, days = 2 } = {}) {
  const key = privateKey ?? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const dir = mkdtempSync(path.join(tmpdir(), 'edge-auth-cert-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    const pemFile = path.join(dir, 'cert.pem');
    const derFile = path.join(dir, 'cert.der');
    const keyPem = key.export({ type: 'pkcs8', format: 'pem' });
    writeFileSync(keyFile, keyPem);
    const args = ['req', '-x509', '-key', keyFile, '-subj', `/CN=${cn}`, '-days', String(days), '-out', pemFile];
    if (altNames?.length) args.push('-addext', `subjectAltName=${altNames.join(',')}`);
    try {
      execFileSync('openssl', args, { stdio: 'pipe' });
      execFileSync('openssl', ['x509', '-in', pemFile, '-outform', 'DER', '-out', derFile], { stdio: 'pipe' });
    } catch (err) {
      throw new Error(`openssl could not make a test certificate (install openssl; scripts/setup.sh does): ${err.stderr || err.message}`);
    }
    return { keyPem, certPem: readFileSync(pemFile, 'utf8'), certDer: readFileSync(derFile), privateKey: key };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
