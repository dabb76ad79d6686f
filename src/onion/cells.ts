// Link cells: every cell on a hop-to-hop link is exactly CELL_SIZE bytes, whatever it
// carries, so a link observer (or the next hop) learns nothing from sizes.
//
//   circId u32 BE | command u8 | body (BODY_LEN bytes, zero padded)
//
// circId is hop-local: each relay rewrites it between its two links, so the same circuit
// has unrelated ids on every link. 0 is reserved (PADDING cells carry it).

export const CELL_SIZE = 1024;
export const CELL_HEADER_LEN = 5;
export const BODY_LEN = CELL_SIZE - CELL_HEADER_LEN;

export const enum CellCommand {
  /** Link keepalive / cover; dropped by the receiver. */
  Padding = 0,
  /** Noise NK message 1 to a new hop (from the client, or from the extending hop). */
  Create = 1,
  /** Noise NK message 2 back. */
  Created = 2,
  /** Onion-encrypted relay body, either direction (the link and circId say which). */
  Relay = 3,
  /** Tear the circuit down; sent hop by hop in both directions. */
  Destroy = 4,
}

export interface Cell {
  circId: number;
  command: CellCommand;
  /** Always BODY_LEN bytes (a view into the decoded buffer). */
  body: Uint8Array;
}

export interface CellCounters {
  /** Input of the wrong size. */
  badSize: number;
  /** Unknown command byte. */
  badCommand: number;
  /** circId 0 on a command that needs a circuit. */
  badCircId: number;
}

export const newCellCounters = (): CellCounters => ({ badSize: 0, badCommand: 0, badCircId: 0 });

const MAX_COMMAND = CellCommand.Destroy;

/** A CELL_SIZE buffer; a shorter body is zero padded, a longer one is refused. */
export function encodeCell(circId: number, command: CellCommand, body?: Uint8Array): Uint8Array {
  if (body && body.length > BODY_LEN) throw new RangeError(`cell body of ${body.length} bytes exceeds ${BODY_LEN}`);
  const out = new Uint8Array(CELL_SIZE);
  new DataView(out.buffer).setUint32(0, circId >>> 0, false);
  out[4] = command;
  if (body) out.set(body, CELL_HEADER_LEN);
  return out;
}

/** A zeroed cell with its header written; fill its body through cellBody(). */
export function allocCell(circId: number, command: CellCommand): Uint8Array {
  return encodeCell(circId, command);
}

export const cellBody = (cell: Uint8Array): Uint8Array => cell.subarray(CELL_HEADER_LEN);

/** Parses one cell; malformed input is counted and yields null, never an exception. */
export function decodeCell(buf: Uint8Array, counters: CellCounters): Cell | null {
  if (!(buf instanceof Uint8Array) || buf.length !== CELL_SIZE) {
    counters.badSize++;
    return null;
  }
  const command = buf[4];
  if (command > MAX_COMMAND) {
    counters.badCommand++;
    return null;
  }
  const circId = new DataView(buf.buffer, buf.byteOffset, 4).getUint32(0, false);
  if (circId === 0 && command !== CellCommand.Padding) {
    counters.badCircId++;
    return null;
  }
  return { circId, command: command as CellCommand, body: buf.subarray(CELL_HEADER_LEN) };
}
