// Oblivious HTTP (RFC 9458) with an independent HPKE implementation, @hpke/core
// (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM), against the STS
// collector's gateway and the STS C client. Binary HTTP (RFC 9292) and the
// response encapsulation (RFC 9458 section 4.4) are written out here, from the
// RFCs, with Node's own HMAC and AES-GCM.
//
//   node interop.js client KEYS_FILE URL CA_FILE JSON
//       seals POST /v1/reports with JSON to the first configuration of
//       KEYS_FILE, posts it to URL, opens the answer, prints "status N" and
//       the inner body.
//   node interop.js gateway PORT_FILE
//       serves GET /v1/ohttp-keys (a fresh key, id 7) and POST /v1/ohttp on
//       127.0.0.1 (port written to PORT_FILE): opens each request, checks that
//       it is a report, prints its JSON on stdout and answers a sealed 202.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const https = require('https');
const { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } = require('@hpke/core');

const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes128Gcm(),
});
const KEM = 0x0020, KDF = 0x0001, AEAD = 0x0001, NK = 16, NN = 12;
const enc8 = (s) => Buffer.from(s, 'utf8');

// ---- QUIC varints and Binary HTTP, known length --------------------------
function varint(n) {
  if (n < 64) return Buffer.from([n]);
  if (n < 16384) return Buffer.from([0x40 | (n >> 8), n & 0xff]);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(0x80000000 + n);
  return b;
}
function readVarint(buf, off) {
  const first = buf[off], len = 1 << (first >> 6);
  let v = first & 0x3f;
  for (let i = 1; i < len; i++) v = v * 256 + buf[off + i];
  return [v, off + len];
}
const lenPrefixed = (b) => Buffer.concat([varint(b.length), b]);
function fieldSection(fields) {
  return lenPrefixed(Buffer.concat(fields.flatMap(([n, v]) => [lenPrefixed(enc8(n)), lenPrefixed(enc8(v))])));
}
function readFields(buf, off) {
  let len;
  [len, off] = readVarint(buf, off);
  const end = off + len, fields = {};
  while (off < end) {
    let n, v;
    [n, off] = readVarint(buf, off);
    const name = buf.subarray(off, off + n).toString(); off += n;
    [v, off] = readVarint(buf, off);
    fields[name] = buf.subarray(off, off + v).toString(); off += v;
  }
  return [fields, end];
}
function bhttpRequest(method, scheme, authority, path, fields, content) {
  return Buffer.concat([varint(0), lenPrefixed(enc8(method)), lenPrefixed(enc8(scheme)),
    lenPrefixed(enc8(authority)), lenPrefixed(enc8(path)), fieldSection(fields),
    lenPrefixed(content), varint(0)]);
}
function bhttpResponse(status, fields, content) {
  return Buffer.concat([varint(1), varint(status), fieldSection(fields), lenPrefixed(content), varint(0)]);
}
function readRequest(buf) {
  let off = 0, framing, n;
  [framing, off] = readVarint(buf, off);
  if (framing !== 0) throw new Error('not a known-length request');
  const ctl = [];
  for (let i = 0; i < 4; i++) {
    [n, off] = readVarint(buf, off);
    ctl.push(buf.subarray(off, off + n).toString()); off += n;
  }
  let headers;
  [headers, off] = readFields(buf, off);
  [n, off] = readVarint(buf, off);
  return { method: ctl[0], scheme: ctl[1], authority: ctl[2], path: ctl[3], headers,
    content: buf.subarray(off, off + n) };
}
function readResponse(buf) {
  let off = 0, framing, status, n, headers;
  [framing, off] = readVarint(buf, off);
  if (framing !== 1) throw new Error('not a known-length response');
  for (;;) { // informational responses first
    [status, off] = readVarint(buf, off);
    [headers, off] = readFields(buf, off);
    if (status >= 200) break;
  }
  [n, off] = readVarint(buf, off);
  return { status, headers, content: buf.subarray(off, off + n) };
}

// ---- RFC 9458 -------------------------------------------------------------
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();
const expand = (prk, info, len) => hmac(prk, Buffer.concat([enc8(info), Buffer.from([1])])).subarray(0, len);
function header(keyId) {
  const h = Buffer.alloc(7);
  h.writeUInt8(keyId, 0); h.writeUInt16BE(KEM, 1); h.writeUInt16BE(KDF, 3); h.writeUInt16BE(AEAD, 5);
  return h;
}
const requestInfo = (hdr) => Buffer.concat([enc8('message/bhttp request'), Buffer.from([0]), hdr]);
function responseKeys(secret, enc, nonce) {
  const prk = hmac(Buffer.concat([enc, nonce]), secret);
  return [expand(prk, 'key', NK), expand(prk, 'nonce', NN)];
}
function aesGcm(encrypt, key, nonce, data) {
  if (encrypt) {
    const c = crypto.createCipheriv('aes-128-gcm', key, nonce);
    return Buffer.concat([c.update(data), c.final(), c.getAuthTag()]);
  }
  const d = crypto.createDecipheriv('aes-128-gcm', key, nonce);
  d.setAuthTag(data.subarray(data.length - 16));
  return Buffer.concat([d.update(data.subarray(0, data.length - 16)), d.final()]);
}

// The first configuration of an application/ohttp-keys body that offers our suite.
function parseKeys(buf) {
  let off = 0;
  while (off + 2 <= buf.length) {
    const len = buf.readUInt16BE(off), cfg = buf.subarray(off + 2, off + 2 + len);
    off += 2 + len;
    if (cfg.readUInt16BE(1) !== KEM) continue;
    const pk = cfg.subarray(3, 35), slen = cfg.readUInt16BE(35);
    for (let i = 0; i < slen; i += 4)
      if (cfg.readUInt16BE(37 + i) === KDF && cfg.readUInt16BE(39 + i) === AEAD)
        return { keyId: cfg[0], pk };
  }
  throw new Error('no usable key configuration');
}

function post(url, ca, body) {
  return new Promise((resolve, reject) => {
    const u = new URL(url), lib = u.protocol === 'https:' ? https : http;
    const req = lib.request(u, { method: 'POST', ca: ca ? fs.readFileSync(ca) : undefined,
      headers: { 'content-type': 'message/ohttp-req', 'content-length': body.length } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'],
        body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function client(keysFile, url, ca, json) {
  const { keyId, pk } = parseKeys(fs.readFileSync(keysFile));
  const hdr = header(keyId);
  const sender = await suite.createSenderContext({
    recipientPublicKey: await suite.kem.deserializePublicKey(pk), info: requestInfo(hdr) });
  const inner = bhttpRequest('POST', 'https', 'collector', '/v1/reports',
    [['content-type', 'application/json']], enc8(json));
  const enc = Buffer.from(sender.enc);
  const ct = Buffer.from(await sender.seal(inner));
  const res = await post(url, ca, Buffer.concat([hdr, enc, ct]));
  if (res.status !== 200 || res.type !== 'message/ohttp-res')
    throw new Error(`outer ${res.status} ${res.type}: ${res.body}`);
  const secret = Buffer.from(await sender.export(enc8('message/bhttp response'), Math.max(NN, NK)));
  const nonce = res.body.subarray(0, Math.max(NN, NK));
  const [key, aeadNonce] = responseKeys(secret, enc, nonce);
  const answer = readResponse(aesGcm(false, key, aeadNonce, res.body.subarray(nonce.length)));
  console.log(`status ${answer.status}\n${answer.content.toString()}`);
}

async function gateway(portFile) {
  const keyId = 7;
  const pair = await suite.kem.generateKeyPair();
  const pk = Buffer.from(await suite.kem.serializePublicKey(pair.publicKey));
  const cfg = Buffer.concat([Buffer.from([keyId, 0x00, 0x20]), pk,
    Buffer.from([0x00, 0x04, 0x00, 0x01, 0x00, 0x01])]);
  const keys = Buffer.concat([Buffer.from([cfg.length >> 8, cfg.length & 0xff]), cfg]);
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      try {
        if (req.method === 'GET' && req.url === '/v1/ohttp-keys') {
          res.writeHead(200, { 'content-type': 'application/ohttp-keys' });
          return res.end(keys);
        }
        const body = Buffer.concat(chunks), hdr = body.subarray(0, 7);
        if (req.headers['content-type'] !== 'message/ohttp-req' || !hdr.equals(header(keyId))) {
          res.writeHead(400);
          return res.end();
        }
        const enc = body.subarray(7, 39);
        const recipient = await suite.createRecipientContext({
          recipientKey: pair.privateKey, enc, info: requestInfo(hdr) });
        const inner = readRequest(Buffer.from(await recipient.open(body.subarray(39))));
        if (inner.method !== 'POST' || inner.path !== '/v1/reports' ||
            inner.headers['content-type'] !== 'application/json')
          throw new Error(`unexpected inner request ${inner.method} ${inner.path}`);
        const report = JSON.parse(inner.content.toString());
        console.log(JSON.stringify(report));
        const secret = Buffer.from(await recipient.export(enc8('message/bhttp response'), Math.max(NN, NK)));
        const nonce = crypto.randomBytes(Math.max(NN, NK));
        const [key, aeadNonce] = responseKeys(secret, enc, nonce);
        const answer = bhttpResponse(202, [['content-type', 'application/json']],
          enc8('{"status":"accepted"}'));
        res.writeHead(200, { 'content-type': 'message/ohttp-res' });
        res.end(Buffer.concat([nonce, aesGcm(true, key, aeadNonce, answer)]));
      } catch (e) {
        console.error(`interop gateway: ${e.message}`);
        res.writeHead(400);
        res.end();
      }
    });
  });
  server.listen(0, '127.0.0.1', () => fs.writeFileSync(portFile, String(server.address().port)));
}

const [mode, ...args] = process.argv.slice(2);
(mode === 'client' ? client(...args) : mode === 'gateway' ? gateway(...args)
  : Promise.reject(new Error('usage: interop.js client|gateway ...')))
  .catch((e) => { console.error(`interop: ${e.message}`); process.exit(1); });
