/**
 * A TCP port free on 127.0.0.1 right now (the kernel's pick for port 0), for the tests, benches and the contract
 * run that start servers on free ports. Another process may still take it before the caller binds it.
 */
import { createServer } from 'node:net';

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
