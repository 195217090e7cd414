// Which approval codes the mappings can push: the literal values their `approval_code` expressions
// can produce (consts, map values and defaults, when branches), so `doctor` can ask Feishu whether
// each definition exists before the first push parks with 1390002. Pure: reads the compiled mappings.
// Invariant: a code computed from row data (a column, a template over columns, a lookup) is never
// guessed; the mapping is named as not enumerable instead.
import type { CompiledMapping } from './compiled-mapping.js';
import type { Expr } from './expression.js';

export interface ApprovalCodes {
  /** Every literal code, sorted. */
  codes: string[];
  /** Mappings whose code is (also) computed from row data, so not every code can be listed. */
  computed: string[];
}

export function approvalCodesOf(mappings: Iterable<CompiledMapping>): ApprovalCodes {
  const codes = new Set<string>();
  const computed: string[] = [];
  for (const m of mappings) {
    if (!collect(m.instance.approvalCode, codes)) computed.push(m.name);
  }
  return { codes: [...codes].sort(), computed };
}

/** Adds the literal values `e` can produce; false when it can also produce values from row data. */
function collect(e: Expr, out: Set<string>): boolean {
  switch (e.op) {
    case 'const':
      if (e.value !== null) out.add(e.value);
      return true;
    case 'template':
      if (e.parts.some((p) => typeof p !== 'string')) return false;
      out.add(e.parts.join(''));
      return true;
    case 'map':
      for (const v of e.values.values()) if (v !== null) out.add(v);
      return e.fallback ? collect(e.fallback, out) : true;
    case 'when': {
      let closed = collect(e.otherwise, out);
      for (const c of e.cases) closed = collect(c.then, out) && closed;
      return closed;
    }
    case 'coalesce': {
      let closed = true;
      for (const item of e.items) closed = collect(item, out) && closed;
      return closed;
    }
    default:
      return false;
  }
}
