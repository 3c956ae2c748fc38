/**
 * The proxy's reader of client requests: the body's text checked in linear passes, without
 * building an object tree of it. `readClientRequest` first (syntax, shape, fields), then, for
 * the items that pass the cheaper checks, `checkData`, then `engagementJson`.
 */
export { checkData, DataChecker, type DataVerdict } from './data.js'
export { engagementJson } from './engagement.js'
export { FieldChecks } from './fields.js'
export { NOT_JSON_MESSAGE, readClientRequest, type ReadItem, type ReadRequest } from './request.js'
