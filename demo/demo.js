// The demo's own page logic: buttons call `window.conversion`, panels show what happened.
const $ = (selector) => document.querySelector(selector)
const call = (...args) => window.conversion(...args)

function show(result) {
  $('#result').textContent = result.ok ? `queued ${result.id ?? ''}` : `refused: ${result.error.message}`
  $('#result').className = result.ok ? 'ok' : 'error'
}

$('#identify').addEventListener('submit', (event) => {
  event.preventDefault()
  show(call('identify', new FormData(event.target).get('email')))
})
for (const button of document.querySelectorAll('[data-track]')) {
  button.addEventListener('click', () => show(call('track', { type: 'PRODUCT_ACTIVITY', name: button.dataset.track, data: { at: new Date().toISOString() } })))
}
$('#burst').addEventListener('click', () => {
  for (let i = 0; i < 1000; i++) call('track', { type: 'PRODUCT_ACTIVITY', name: 'Burst', data: { index: i } })
  $('#result').textContent = 'queued 1,000 engagements'
  $('#result').className = 'ok'
})
$('#invalid').addEventListener('click', () => show(call('track', { type: 'PRODUCT_ACTIVITY', createdAt: 'last tuesday' })))
$('#flush').addEventListener('click', () => call('flush'))

const events = $('#events')
function onEvent(event) {
  const item = document.createElement('li')
  const count = event.ids ? ` ×${event.ids.length}` : ''
  const detail = event.error?.message ?? event.reason ?? (event.transport ? `${event.transport}, ${event.bytes} bytes` : '')
  item.textContent = `${new Date().toLocaleTimeString()} ${event.type}${count} ${detail}`
  item.className = event.type
  events.prepend(item)
  while (events.children.length > 50) events.lastChild.remove()
}

async function refreshStats() {
  const stats = await call('stats')
  if (!stats) return
  const rows = {
    'In the outbox': stats.queued,
    Held: stats.held,
    'In flight': stats.inFlight,
    Sent: stats.sent,
    Retried: stats.retried,
    Rejected: stats.rejected,
    Dropped: stats.dropped,
    'Requests in the last second': `${stats.recentRequests.length} of 10`,
    'This tab sends': stats.leader ? 'yes (leader)' : 'no',
    Storage: stats.storage,
  }
  $('#stats').replaceChildren(...Object.entries(rows).flatMap(([name, value]) => {
    const term = document.createElement('dt')
    term.textContent = name
    const detail = document.createElement('dd')
    detail.textContent = String(value)
    return [term, detail]
  }))
}

let since = 0
let received = 0
async function refreshReceived() {
  if (!window.DEMO.emulator) return
  const page = await (await fetch(`${window.DEMO.emulator}/__emulator/engagements?since=${since}`)).json()
  since = page.next
  received += page.items.length
  $('#received-count').textContent = `${received} engagements`
  const list = $('#received')
  for (const { engagement, receivedAt } of page.items.slice(-50)) {
    const item = document.createElement('li')
    item.textContent = `${new Date(receivedAt).toLocaleTimeString()} ${engagement.name ?? engagement.type} · ${engagement.contactEmail}`
    list.prepend(item)
  }
  while (list.children.length > 50) list.lastChild.remove()
}

$('#upstream').textContent = window.DEMO.emulator ? 'the local Conversion emulator' : 'the real Conversion API'
const ready = setInterval(() => {
  if (!window.conversion?.loaded) return
  clearInterval(ready)
  call('subscribe', onEvent)
  setInterval(refreshStats, 250)
  setInterval(refreshReceived, 500)
}, 50)
