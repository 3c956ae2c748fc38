// The demo page's own logic: the product buttons and controls call `window.conversion`, the
// panels show what the tracker, the proxy and Conversion (the emulator) did about it.
const $ = (selector) => document.querySelector(selector)
const call = (...args) => window.conversion(...args)
const emulator = window.DEMO.emulator

function show(text, ok = true) {
  $('#result').textContent = text
  $('#result').className = ok ? 'ok' : 'error'
}

function report(result) {
  if (result?.ok) show(`queued ${result.id ?? ''}`)
  else if (result) show(`refused: ${result.error.message}`, false)
}

async function post(url, body) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return response.json()
}

// The product.
for (const button of document.querySelectorAll('[data-track]')) {
  button.addEventListener('click', () =>
    report(call('track', { type: 'PRODUCT_ACTIVITY', name: button.dataset.track, data: JSON.parse(button.dataset.detail) })),
  )
}
$('#identify').addEventListener('submit', (event) => {
  event.preventDefault()
  const result = call('identify', new FormData(event.target).get('email'))
  result.ok ? show('identified: later engagements carry this contact') : report(result)
})
$('#reset').addEventListener('click', () => {
  call('reset')
  show('logged out: engagements are held until someone identifies')
})

// Load.
const burst = () => {
  for (let i = 0; i < 1000; i++) call('track', { type: 'PRODUCT_ACTIVITY', name: 'Burst', data: { index: i } })
}
$('#burst').addEventListener('click', () => {
  burst()
  show('queued 1,000 engagements')
})
$('#reload-mid-flush').addEventListener('click', () => {
  burst()
  show('queued 1,000 engagements; reloading in the middle of sending them...')
  setTimeout(() => location.reload(), 400)
})
$('#second-tab').addEventListener('click', () => window.open(location.href, '_blank'))
$('#flush').addEventListener('click', () => call('flush'))

// Network: the demo server stops and restarts the proxy, so the tracker meets refused connections.
for (const [id, up] of [
  ['#proxy-down', false],
  ['#proxy-up', true],
]) {
  $(id).addEventListener('click', async () => {
    await post('/demo/proxy', { up })
    show(up ? 'the proxy is back' : 'the proxy is offline: engagements wait in the outbox', up)
  })
}

// Conversion's faults, set on the emulator.
async function showFaults(faults) {
  const active = Object.entries(faults).filter(([, value]) => value && value !== 0)
  $('#faults').textContent = active.length
    ? `Conversion now: ${active.map(([name, value]) => `${name} ${value}`).join(', ')}`
    : 'Conversion now: healthy'
}
for (const button of document.querySelectorAll('[data-faults]')) {
  button.addEventListener('click', async () => {
    const faults = JSON.parse(button.dataset.faults)
    // A storm lasts ten seconds, then Conversion recovers by itself.
    if (faults.rateLimitStorm === true) faults.rateLimitStorm = Date.now() + 10_000
    showFaults(await post(`${emulator}/__emulator/faults`, faults))
  })
}
if (!emulator) for (const group of document.querySelectorAll('.emulator-only')) group.hidden = true

// Input.
$('#invalid').addEventListener('click', () => report(call('track', { type: 'PRODUCT_ACTIVITY', createdAt: 'last tuesday' })))
$('#opt-out').addEventListener('click', () => {
  call('optOut')
  show('opted out: nothing is recorded and the outbox was emptied')
})
$('#opt-in').addEventListener('click', () => {
  call('optIn')
  show('opted in again')
})

// What happened.
const trackerStarts = []
function onEvent(event) {
  if (event.type === 'request') trackerStarts.push(Date.now())
  if (event.type === 'queued') return
  const item = document.createElement('li')
  const count = event.ids ? ` ×${event.ids.length}` : ''
  const detail = event.error?.message ?? event.reason ?? (event.transport ? `${event.transport}, ${event.bytes} bytes` : '')
  item.textContent = `${new Date().toLocaleTimeString()} ${event.type}${count} ${detail}`
  item.className = event.type
  $('#events').prepend(item)
  while ($('#events').children.length > 60) $('#events').lastChild.remove()
}

async function refreshStats() {
  const stats = await call('stats')
  if (!stats) return
  const rows = {
    'In the outbox': stats.queued,
    'Waiting for a contact': stats.held,
    'In flight': stats.inFlight,
    Sent: stats.sent,
    Retried: stats.retried,
    Rejected: stats.rejected,
    Dropped: stats.dropped,
    'Starts in the last second': `${stats.recentRequests.length} of 10`,
    'Next retry': stats.retryAt ? `in ${Math.ceil((stats.retryAt - Date.now()) / 1000)} s` : '—',
    'This tab sends': stats.leader ? 'yes (leader)' : 'no (another tab does)',
    Storage: stats.storage,
    ...(stats.halted ? { Halted: stats.halted } : {}),
  }
  $('#stats').replaceChildren(
    ...Object.entries(rows).flatMap(([name, value]) => {
      const term = document.createElement('dt')
      term.textContent = name
      const detail = document.createElement('dd')
      detail.textContent = String(value)
      return [term, detail]
    }),
  )
}

// Received by Conversion, and the requests it saw.
const upstreamStarts = []
let engagementsSince = 0
let requestsSince = 0
let received = 0
async function refreshReceived() {
  if (!emulator) return
  const [engagements, requests] = await Promise.all([
    fetch(`${emulator}/__emulator/engagements?since=${engagementsSince}`).then((response) => response.json()),
    fetch(`${emulator}/__emulator/requests?since=${requestsSince}`).then((response) => response.json()),
  ])
  engagementsSince = engagements.next
  requestsSince = requests.next
  upstreamStarts.push(...requests.items.map((request) => request.at))
  received += engagements.items.length
  $('#received-count').textContent = `${received} engagements`
  const list = $('#received')
  for (const { engagement, receivedAt } of engagements.items.slice(-60)) {
    const item = document.createElement('li')
    item.textContent = `${new Date(receivedAt).toLocaleTimeString()} ${engagement.name ?? engagement.type} · ${engagement.contactEmail}`
    list.prepend(item)
  }
  while (list.children.length > 60) list.lastChild.remove()
}

// The chart: request starts per second over the last minute, against the limit.
const SECONDS = 60
function perSecond(starts, now) {
  const counts = new Array(SECONDS).fill(0)
  for (const at of starts) {
    const age = Math.floor((now - at) / 1000)
    if (age >= 0 && age < SECONDS) counts[SECONDS - 1 - age]++
  }
  return counts
}
function drawChart() {
  const canvas = $('#chart')
  const context = canvas.getContext('2d')
  const { width, height } = canvas
  const now = Date.now()
  const max = 14
  const y = (value) => height - 16 - (value / max) * (height - 24)
  context.clearRect(0, 0, width, height)
  context.font = '11px system-ui, sans-serif'
  context.fillStyle = '#8a93a6'
  for (const value of [0, 5, 10]) context.fillText(String(value), 2, y(value) + 4)
  const barWidth = (width - 24) / SECONDS
  for (const [series, color, offset] of [
    [perSecond(trackerStarts, now), '#4f46e5', 0],
    [perSecond(upstreamStarts, now), '#16a34a', barWidth / 2],
  ]) {
    context.fillStyle = color
    series.forEach((count, i) => context.fillRect(20 + i * barWidth + offset, y(count), barWidth / 2 - 1, y(0) - y(count)))
  }
  context.strokeStyle = '#dc2626'
  context.setLineDash([6, 4])
  context.beginPath()
  context.moveTo(20, y(10))
  context.lineTo(width, y(10))
  context.stroke()
  context.setLineDash([])
  const horizon = now - SECONDS * 1000
  while (trackerStarts[0] < horizon) trackerStarts.shift()
  while (upstreamStarts[0] < horizon) upstreamStarts.shift()
}

$('#upstream').textContent = emulator ? 'the Conversion emulator' : 'the real Conversion API'
if (emulator)
  fetch(`${emulator}/__emulator/faults`)
    .then((response) => response.json())
    .then(showFaults)
const ready = setInterval(() => {
  if (!window.conversion?.loaded) return
  clearInterval(ready)
  call('subscribe', onEvent)
  setInterval(refreshStats, 250)
  setInterval(refreshReceived, 500)
  setInterval(drawChart, 250)
}, 50)
