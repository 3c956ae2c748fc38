/** Parcels count what an engagement's text costs on the wire (UTF-8) and in memory, whatever its characters. */
import { describe, expect, it } from 'vitest'
import { batchBody, toParcel } from '../src/core/parcel.js'

const DIGEST = 'ab'.repeat(16)
const utf8 = (text: string) => new TextEncoder().encode(text).length

describe('parcels', () => {
  it('count the wire bytes of ASCII, Latin-1, wide and astral texts as UTF-8 does', () => {
    for (const name of ['Demo completed', 'Démo terminée', 'デモ完了', 'Demo 🎉 done', 'Ā']) {
      const json = JSON.stringify({ id: 'e-1', name })
      const parcel = toParcel('e-1', DIGEST, json)
      expect(parcel.wireBytes).toBe(utf8(json))
      expect(batchBody([parcel, parcel]).length).toBe(json.length * 2 + '{"batch":[,]}'.length)
    }
  })

  it('count two bytes a character in memory once a character is beyond Latin-1', () => {
    const latin = toParcel('e-1', DIGEST, '{"name":"Démo"}')
    const wide = toParcel('e-1', DIGEST, '{"name":"Dēmo"}')
    expect(wide.heldBytes - latin.heldBytes).toBe('{"name":"Dēmo"}'.length)
  })
})
