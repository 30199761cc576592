/**
 * The WebSocket frame header of a stored frame (docs/protocol.md "Subscriber"; RFC 6455 §5.2:
 * FIN, binary opcode, server to client so unmasked), made once per stored frame and shared by
 * every subscriber sending it. A subscriber then writes header and payload to its TCP socket
 * itself (corked per burst): what ws's send would do, without re-framing the same bytes for
 * each subscriber. Only valid on a connection without permessage-deflate (the server never
 * negotiates it).
 */
const heads = new WeakMap<Buffer, Buffer>();

/** The header of `payload` sent as one binary frame; cached for stored frames (`shared`). */
export function binaryFrameHead(payload: Buffer, shared: boolean): Buffer {
  if (!shared) return makeHead(payload.length);
  let head = heads.get(payload);
  if (!head) {
    head = makeHead(payload.length);
    heads.set(payload, head);
  }
  return head;
}

function makeHead(n: number): Buffer {
  if (n < 126) return Buffer.from([0x82, n]);
  if (n < 65536) return Buffer.from([0x82, 126, n >>> 8, n & 0xff]);
  const head = Buffer.allocUnsafe(10);
  head[0] = 0x82;
  head[1] = 127;
  head.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
  head.writeUInt32BE(n >>> 0, 6);
  return head;
}
