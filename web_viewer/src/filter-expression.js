// Filter expressions planners type (`year_built < 1950 and use = 'residential'`): a small CQL2-text subset,
// parsed by hand (never eval) into a tree that becomes a Cesium3DTileStyle `show` expression or CQL2 text.
//
// Grammar: or := and ("or" and)* ; and := not ("and" not)* ; not := "not" not | "(" or ")" | predicate
// predicate := operand ( op operand | ["not"] "in" "(" list ")" | ["not"] "like" string
//                      | ["not"] "between" operand "and" operand | "is" ["not"] "null" )
// operand := number | 'string' | true | false | name | "quoted name" ; op := = <> != < <= > >=

/** A filter the user typed that cannot be read; `position` is the character where reading stopped. */
export class FilterError extends Error {
  constructor(message, position) {
    super(position === undefined ? message : `${message} (at character ${position + 1})`);
    this.name = "FilterError";
    this.position = position;
  }
}

const KEYWORDS = new Set(["and", "or", "not", "in", "like", "between", "is", "null", "true", "false"]);
const OPERATORS = ["<=", ">=", "<>", "!=", "=", "<", ">"];

/** Tokens: {type: "number"|"string"|"name"|"keyword"|"op"|"(" |")"|",", value, at}. */
export function tokenize(text) {
  const tokens = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) { i++; continue; }
    if (c === "(" || c === ")" || c === ",") { tokens.push({ type: c, value: c, at: i }); i++; continue; }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (op) { tokens.push({ type: "op", value: op === "!=" ? "<>" : op, at: i }); i += op.length; continue; }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let value = "";
      for (;;) {
        if (j >= text.length) throw new FilterError(`unclosed ${c === "'" ? "text" : "name"} quote`, i);
        if (text[j] === c) {
          if (text[j + 1] === c) { value += c; j += 2; continue; } // '' inside a text is one quote
          break;
        }
        value += text[j++];
      }
      tokens.push({ type: c === "'" ? "string" : "name", value, at: i });
      i = j + 1;
      continue;
    }
    const number = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(text.slice(i));
    if (number && (c !== "-" || !tokens.length || ["op", "(", ",", "keyword"].includes(tokens.at(-1).type))) {
      tokens.push({ type: "number", value: Number(number[0]), at: i });
      i += number[0].length;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_.:]*/.exec(text.slice(i));
    if (word) {
      const lower = word[0].toLowerCase();
      tokens.push(KEYWORDS.has(lower) ? { type: "keyword", value: lower, at: i } : { type: "name", value: word[0], at: i });
      i += word[0].length;
      continue;
    }
    throw new FilterError(`unexpected character '${c}'`, i);
  }
  return tokens;
}

/** The tree of a filter: {op: "and"|"or", args} | {op: "not", arg} | {op: "cmp", cmp, left, right}
 * | {op: "in", left, values, negated} | {op: "like", left, pattern, negated} | {op: "between", left, low, high,
 * negated} | {op: "null", left, negated}; operands {name} or {value}. Throws FilterError. */
export function parseFilter(text) {
  if (typeof text !== "string" || !text.trim()) throw new FilterError("the filter is empty");
  const tokens = tokenize(text);
  let k = 0;
  const peek = () => tokens[k];
  const end = () => text.length;
  const isKeyword = (word) => peek() && peek().type === "keyword" && peek().value === word;
  const expect = (type, what) => {
    const t = peek();
    if (!t || t.type !== type) throw new FilterError(`expected ${what}${t ? ` but found '${t.value}'` : " at the end"}`, t ? t.at : end());
    k++;
    return t;
  };

  function operand() {
    const t = peek();
    if (!t) throw new FilterError("expected a value or a property name at the end", end());
    if (t.type === "number" || t.type === "string") { k++; return { value: t.value }; }
    if (t.type === "name") { k++; return { name: t.value }; }
    if (t.type === "keyword" && (t.value === "true" || t.value === "false")) { k++; return { value: t.value === "true" }; }
    throw new FilterError(`expected a value or a property name but found '${t.value}'`, t.at);
  }

  function predicate() {
    const left = operand();
    const t = peek();
    if (!t) throw new FilterError("expected a comparison (=, <, >, in, like, between, is null) at the end", end());
    if (t.type === "op") {
      k++;
      return { op: "cmp", cmp: t.value, left, right: operand() };
    }
    let negated = false;
    if (isKeyword("is")) {
      k++;
      if (isKeyword("not")) { k++; negated = true; }
      if (!isKeyword("null")) throw new FilterError("expected 'null' after 'is'", peek() ? peek().at : end());
      k++;
      return { op: "null", left, negated };
    }
    if (isKeyword("not")) { k++; negated = true; }
    if (isKeyword("in")) {
      k++;
      expect("(", "'(' after 'in'");
      const values = [operand()];
      while (peek() && peek().type === ",") { k++; values.push(operand()); }
      expect(")", "')' closing the list");
      return { op: "in", left, values, negated };
    }
    if (isKeyword("like")) {
      k++;
      const pattern = expect("string", "a quoted pattern after 'like'");
      return { op: "like", left, pattern: pattern.value, negated };
    }
    if (isKeyword("between")) {
      k++;
      const low = operand();
      if (!isKeyword("and")) throw new FilterError("expected 'and' in 'between … and …'", peek() ? peek().at : end());
      k++;
      return { op: "between", left, low, high: operand(), negated };
    }
    throw new FilterError(`expected a comparison (=, <, >, in, like, between, is null) but found '${t.value}'`, t.at);
  }

  function unary() {
    if (isKeyword("not")) { k++; return { op: "not", arg: unary() }; }
    if (peek() && peek().type === "(") {
      k++;
      const inner = disjunction();
      expect(")", "')'");
      return inner;
    }
    return predicate();
  }

  function conjunction() {
    const args = [unary()];
    while (isKeyword("and")) { k++; args.push(unary()); }
    return args.length === 1 ? args[0] : { op: "and", args };
  }

  function disjunction() {
    const args = [conjunction()];
    while (isKeyword("or")) { k++; args.push(conjunction()); }
    return args.length === 1 ? args[0] : { op: "or", args };
  }

  const tree = disjunction();
  if (k < tokens.length) throw new FilterError(`unexpected '${tokens[k].value}'`, tokens[k].at);
  return tree;
}

/** Every property name the tree refers to. */
export function propertyNames(tree, names = new Set()) {
  if (!tree || typeof tree !== "object") return names;
  if (typeof tree.name === "string") names.add(tree.name);
  for (const value of Object.values(tree)) {
    if (Array.isArray(value)) value.forEach((v) => propertyNames(v, names));
    else if (value && typeof value === "object") propertyNames(value, names);
  }
  return names;
}

const quoteCesium = (text) => `'${String(text).replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
const cesiumName = (name) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `\${${name}}` : `\${feature[${quoteCesium(name)}]}`);
const CESIUM_CMP = { "=": "===", "<>": "!==", "<": "<", "<=": "<=", ">": ">", ">=": ">=" };

/** A LIKE pattern (% any run, _ one character) as an anchored regular expression source. */
export function likeToRegExp(pattern) {
  let source = "^";
  for (const c of pattern) {
    if (c === "%") source += ".*";
    else if (c === "_") source += ".";
    else source += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return `${source}$`;
}

/** The tree as a Cesium 3D Tiles style expression (for `show`); numbers compare as numbers. */
export function toCesiumExpression(tree) {
  const numeric = (node) => node.right && typeof node.right.value === "number";
  const side = (o, asNumber) => {
    if (o.name !== undefined) return asNumber ? `Number(${cesiumName(o.name)})` : `String(${cesiumName(o.name)})`;
    if (typeof o.value === "number") return String(o.value);
    if (typeof o.value === "boolean") return asNumber ? String(Number(o.value)) : quoteCesium(String(o.value));
    return quoteCesium(o.value);
  };
  const not = (negated, text) => (negated ? `!(${text})` : `(${text})`);
  const walk = (node) => {
    switch (node.op) {
      case "and": return node.args.map((a) => `(${walk(a)})`).join(" && ");
      case "or": return node.args.map((a) => `(${walk(a)})`).join(" || ");
      case "not": return `!(${walk(node.arg)})`;
      case "cmp": {
        const asNumber = numeric(node) || typeof node.left.value === "number";
        return `${side(node.left, asNumber)} ${CESIUM_CMP[node.cmp]} ${side(node.right, asNumber)}`;
      }
      case "in": {
        const asNumber = node.values.every((v) => typeof v.value === "number");
        return not(node.negated, node.values.map((v) => `${side(node.left, asNumber)} === ${side(v, asNumber)}`).join(" || "));
      }
      case "like": return not(node.negated, `regExp(${quoteCesium(likeToRegExp(node.pattern))}).test(${side(node.left, false)})`);
      case "between": {
        const v = side(node.left, true);
        return not(node.negated, `${v} >= ${side(node.low, true)} && ${v} <= ${side(node.high, true)}`);
      }
      case "null": {
        const raw = cesiumName(node.left.name ?? "");
        return not(node.negated, `${raw} === undefined || ${raw} === null || String(${raw}) === '' || String(${raw}) === 'NaN'`);
      }
      default: throw new FilterError(`cannot translate '${node.op}'`);
    }
  };
  return walk(tree);
}

const quoteCql = (text) => `'${String(text).replace(/'/g, "''")}'`;
const cqlName = (name) => (/^[A-Za-z_][A-Za-z0-9_.]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`);

/** The tree as CQL2 text for `/ogc/collections/{id}/items?filter=` (rebuilt from the tree, so always well formed). */
export function toCql2(tree) {
  const side = (o) => {
    if (o.name !== undefined) return cqlName(o.name);
    if (typeof o.value === "string") return quoteCql(o.value);
    if (typeof o.value === "boolean") return o.value ? "TRUE" : "FALSE";
    return String(o.value);
  };
  const neg = (negated) => (negated ? "NOT " : "");
  const walk = (node) => {
    switch (node.op) {
      case "and": return node.args.map((a) => `(${walk(a)})`).join(" AND ");
      case "or": return node.args.map((a) => `(${walk(a)})`).join(" OR ");
      case "not": return `NOT (${walk(node.arg)})`;
      case "cmp": return `${side(node.left)} ${node.cmp} ${side(node.right)}`;
      case "in": return `${side(node.left)} ${neg(node.negated)}IN (${node.values.map(side).join(", ")})`;
      case "like": return `${side(node.left)} ${neg(node.negated)}LIKE ${quoteCql(node.pattern)}`;
      case "between": return `${side(node.left)} ${neg(node.negated)}BETWEEN ${side(node.low)} AND ${side(node.high)}`;
      case "null": return `${side(node.left)} IS ${neg(node.negated)}NULL`;
      default: throw new FilterError(`cannot translate '${node.op}'`);
    }
  };
  return walk(tree);
}
