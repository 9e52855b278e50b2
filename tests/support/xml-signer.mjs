// The signing side both hostile IdPs share (tests/support/saml-hostile.mjs, tests/support/wsfed-hostile.mjs):
// npm `xml-crypto` (an XML-DSig implementation independent of edge-auth's) set up with the algorithms the attack
// suites use, ECDSA included.
import { createSign } from 'node:crypto';

import { SignedXml } from 'xml-crypto';

export const DSIG = 'http://www.w3.org/2000/09/xmldsig#';
export const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
export const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';

/** Signature method and digest method by short name. */
export const ALGS = {
  'rsa-sha256': { sig: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', digest: 'http://www.w3.org/2001/04/xmlenc#sha256' },
  'rsa-sha512': { sig: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512', digest: 'http://www.w3.org/2001/04/xmlenc#sha512' },
  'rsa-sha1': { sig: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1', digest: 'http://www.w3.org/2000/09/xmldsig#sha1' },
  // SHA-1 in only one of the two (a connector's allow_sha1 accepts both; the others refuse both).
  'rsa-sha1-digest-sha256': { sig: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1', digest: 'http://www.w3.org/2001/04/xmlenc#sha256' },
  'rsa-sha256-digest-sha1': { sig: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', digest: 'http://www.w3.org/2000/09/xmldsig#sha1' },
  'ecdsa-sha256': { sig: 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256', digest: 'http://www.w3.org/2001/04/xmlenc#sha256' },
};

// XML-DSig's ECDSA value is r‖s (RFC 4050 / XML-DSig 1.1), which xml-crypto does not produce by itself.
class EcdsaSha256 {
  getSignature(signedInfo, privateKey) {
    return createSign('SHA256').update(signedInfo).sign({ key: privateKey, dsaEncoding: 'ieee-p1363' }, 'base64');
  }

  getAlgorithmName() {
    return ALGS['ecdsa-sha256'].sig;
  }
}

/**
 * A SignedXml for `alg` with `keys` (the certificate in KeyInfo when `keyInfo`), and the digest method to give
 * its references. `options`: more SignedXml options (canonicalizationAlgorithm, idAttribute).
 */
export function signerFor(alg, keys, keyInfo, options = {}) {
  const { sig: signatureAlgorithm, digest } = ALGS[alg];
  const sig = new SignedXml({
    privateKey: keys.privateKey,
    publicCert: keyInfo ? keys.certificate : undefined,
    signatureAlgorithm,
    canonicalizationAlgorithm: EXC_C14N,
    ...options,
  });
  sig.SignatureAlgorithms[ALGS['ecdsa-sha256'].sig] = EcdsaSha256;
  return { sig, digest };
}
