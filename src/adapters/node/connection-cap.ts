/**
 * A cap on the connections one client address holds open, so that one client cannot take the
 * server's sockets from everybody else: the per-client request limit only sees requests, never
 * connections that are idle or that send their headers slowly.
 */
import { isIPv6, type Server, type Socket } from 'node:net'

/** Closes, as soon as it is accepted, every connection beyond `max` from one client address. */
export function capConnectionsPerAddress(server: Server, max: number): void {
  const open = new Map<string, number>()
  // First among the listeners: a refused connection is closed before HTTP reads a byte of it.
  server.prependListener('connection', (socket: Socket) => {
    const client = addressGroup(socket.remoteAddress)
    // Without an address the connection is already gone.
    if (client === undefined) return
    const count = open.get(client) ?? 0
    if (count >= max) {
      socket.destroy()
      return
    }
    open.set(client, count + 1)
    socket.once('close', () => {
      const left = (open.get(client) ?? 1) - 1
      // Only addresses with open connections are kept: the map cannot outgrow the sockets.
      if (left > 0) open.set(client, left)
      else open.delete(client)
    })
  })
}

/**
 * What one client is, by address: an IPv4 address (also when it arrives IPv4-mapped, as
 * `::ffff:203.0.113.9`), or an IPv6 /64 network, since one home or phone is given a whole /64
 * and could otherwise open connections from any number of its addresses.
 */
export function addressGroup(address: string | undefined): string | undefined {
  if (address === undefined) return undefined
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return mapped[1]
  if (!isIPv6(address)) return address
  const [head = '', tail] = (address.split('%')[0] as string).split('::')
  const groups = (part: string) => (part === '' ? [] : part.split(':'))
  const left = groups(head)
  const right = tail === undefined ? [] : groups(tail)
  // An embedded IPv4 address (the last 32 bits) stands for two groups.
  const width = right.reduce((sum, group) => sum + (group.includes('.') ? 2 : 1), left.length)
  const all = [...left, ...Array<string>(tail === undefined ? 0 : 8 - width).fill('0'), ...right]
  return `${all
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(':')}::/64`
}
