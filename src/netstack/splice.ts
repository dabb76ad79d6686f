import type { Duplex } from 'node:stream';

/** Joins two connections both ways: data piped with backpressure, an error or close on one ends the other. */
export function splice(a: Duplex, b: Duplex): void {
  b.on('error', () => a.destroy());
  a.on('error', () => b.destroy());
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
  a.pipe(b);
  b.pipe(a);
}
