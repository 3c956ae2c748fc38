/**
 * The contract's rules for the fields of an item other than its data, applied in
 * `checkEngagement`'s order, with the last value of each field remembered with its verdict.
 */
import { checkField as checkContractField, ENGAGEMENT_FIELDS, ruleViolation, type RuleViolation } from '../../contract.js'

/** A field of an engagement. */
export type FieldName = keyof typeof ENGAGEMENT_FIELDS

/** An item's fields as the rules see them: its value of each, and its first unknown key. */
export interface CheckedItem {
  valueOf(name: FieldName): unknown
  readonly unknown: string | undefined
}

/** Stands for "no value checked yet" among the values {@link FieldChecks} remembers. */
const UNSET = Symbol('unset')

/**
 * The contract's rules for the fields of items, in `checkEngagement`'s order. The last value
 * checked of each field but `id` (which differs from item to item) is remembered with its
 * verdict: the items of one body, and of the bodies one page sends, mostly share their contact
 * and type, and often their time. A value is remembered as a copy, so that no body outlives its
 * request through a string cut from it.
 */
export class FieldChecks {
  private readonly names = Object.keys(ENGAGEMENT_FIELDS) as FieldName[]
  private readonly values: unknown[] = this.names.map(() => UNSET)
  private readonly verdicts: (RuleViolation | undefined)[] = []

  /** The first rule `item` breaks, or undefined. */
  verdict(item: CheckedItem): RuleViolation | undefined {
    const { names, values, verdicts } = this
    for (let i = 0; i < names.length; i++) {
      const name = names[i] as FieldName
      const value = item.valueOf(name)
      let verdict: RuleViolation | undefined
      if (name === 'id') verdict = checkField(name, value)
      else if (values[i] === value) verdict = verdicts[i]
      else {
        verdict = verdicts[i] = checkField(name, value)
        values[i] = typeof value === 'string' ? copied(value) : value
      }
      if (verdict) return verdict
    }
    return item.unknown === undefined ? undefined : ruleViolation([item.unknown], 'unknown-field', 'is not a known field')
  }
}

/**
 * A string equal to `text` that holds its own characters: a string cut from a longer one may
 * share (and keep alive) that one's. Joining forces a fresh flat string, which the cut then shares.
 */
function copied(text: string): string {
  return ` ${text}`.slice(1)
}

/** One field's rules, as `checkEngagement` applies them to a value (a draft's optional contact aside). */
function checkField(name: FieldName, value: unknown): RuleViolation | undefined {
  return checkContractField(name, value, 'optional' in ENGAGEMENT_FIELDS[name])
}
