// A TCP forwarder that records every byte it passes, both directions, for the
// end-to-end test that searches what crosses a hop (no tcpdump needed).
// Usage: node tap.js TARGET_PORT CAPTURE_FILE PORT_FILE
// Listens on 127.0.0.1 on a free port, writes that port to PORT_FILE, and
// forwards each connection to 127.0.0.1:TARGET_PORT, appending all bytes to
// CAPTURE_FILE. Runs until killed.
'use strict';
const fs = require('fs');
const net = require('net');

const [target, capture, portFile] = process.argv.slice(2);
const out = fs.openSync(capture, 'a');
const record = (chunk) => fs.writeSync(out, chunk);

const server = net.createServer((client) => {
  const upstream = net.connect(Number(target), '127.0.0.1');
  client.on('data', (d) => { record(d); upstream.write(d); });
  upstream.on('data', (d) => { record(d); client.write(d); });
  client.on('end', () => upstream.end());
  upstream.on('end', () => client.end());
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});
server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(portFile, String(server.address().port));
});
