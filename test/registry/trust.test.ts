import { describe, expect, it } from 'vitest';
import { pemCertificates } from '../../src/registry/trust.js';

const pem = (body: string, eol = '\n'): string => `-----BEGIN CERTIFICATE-----${eol}${body}${eol}-----END CERTIFICATE-----`;

describe('splitting a CA bundle into PEM certificates', () => {
  it('finds each certificate in order, with comments, CRLF line ends and other PEM blocks around them', () => {
    const text = ['# Comment', pem('QUJD'), '-----BEGIN X509 CRL-----\nWlla\n-----END X509 CRL-----', pem('REVG', '\r\n'), 'trailer'].join('\n');
    expect(pemCertificates(text)).toEqual([pem('QUJD'), pem('REVG', '\r\n')]);
  });

  it('ignores a certificate that never ends, and text without any', () => {
    expect(pemCertificates(`${pem('QUJD')}\n-----BEGIN CERTIFICATE-----\nREVG\n`)).toEqual([pem('QUJD')]);
    expect(pemCertificates('no certificates here')).toEqual([]);
  });
});
