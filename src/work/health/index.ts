/** Per-object health of member objects, with declarable rules for custom kinds. */
export { interpretHealth, valueAt, type Health } from './interpret.ts';
export {
  HealthAnnotations,
  healthRuleFromCrd,
  parseFieldClauses,
  parseHealthRule,
  parsePath,
  type CrdHealthRule,
  type FieldClause,
  type FieldOperand,
  type HealthRule,
  type ParseResult,
  type PathSegment,
} from './rule.ts';
