// Package databases declare licences in whatever words their authors chose ("MIT", "mit",
// "GPL2+", "MIT BSD GPL2+"). SBOMs must carry valid SPDX license expressions, so each declared
// string is either normalised into one (canonical identifier case, upper-case operators) or, when
// it is not one, referred to as a LicenseRef that keeps the original text.
import { createHash } from 'node:crypto';
import { SPDX_EXCEPTION_IDS, SPDX_LICENSE_IDS } from './spdx-license-list.js';

const MAX_EXPRESSION_CHARS = 1024;
const MAX_TOKENS = 256;
const MAX_DEPTH = 32;

const byLowerCase = (ids: readonly string[]) => new Map(ids.map((id) => [id.toLowerCase(), id]));
const LICENSES = byLowerCase(SPDX_LICENSE_IDS);
const EXCEPTIONS = byLowerCase(SPDX_EXCEPTION_IDS);
const LICENSE_REF = /^(?:DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+$/;

type Node =
  | { kind: 'license'; text: string }
  | { kind: 'with'; license: string; exception: string }
  | { kind: 'and' | 'or'; left: Node; right: Node };

class InvalidExpression extends Error {}

/** The canonical form of a valid SPDX license expression, or undefined when it is not one. */
export function normaliseSpdxExpression(text: string): string | undefined {
  const root = parseExpression(text);
  return root && print(root);
}

/**
 * The conjuncts of a valid expression (`A AND (B OR C)` → `A`, `B OR C`); a single-element array
 * for anything else, including invalid text, which is returned unchanged.
 */
export function splitTopLevelAnd(text: string): string[] {
  const root = parseExpression(text);
  if (!root) return [text];
  const parts: Node[] = [];
  const collect = (node: Node): void => {
    if (node.kind === 'and') {
      collect(node.left);
      collect(node.right);
    } else {
      parts.push(node);
    }
  };
  collect(root);
  return parts.map(print);
}

/** Whether a normalised expression is a single listed licence identifier (no operators). */
export function isSingleLicenseId(expression: string): boolean {
  return LICENSES.get(expression.toLowerCase()) === expression;
}

/**
 * A LicenseRef id for text that is not an expression: readable when the text is already a valid
 * idstring, otherwise sanitised and suffixed with a hash of the text so that distinct texts never
 * share an id.
 */
export function licenseRefFor(text: string): string {
  if (/^[A-Za-z0-9.-]{1,64}$/.test(text)) return `LicenseRef-${text}`;
  const readable = text
    .replace(/[^A-Za-z0-9.-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 8);
  return `LicenseRef-${readable ? `${readable}-` : ''}${hash}`;
}

function parseExpression(text: string): Node | undefined {
  if (text.length > MAX_EXPRESSION_CHARS) return undefined;
  const tokens = text.match(/\(|\)|[^\s()]+/g) ?? [];
  if (tokens.length === 0 || tokens.length > MAX_TOKENS) return undefined;
  const parser = new Parser(tokens);
  try {
    const node = parser.or(0);
    return parser.done() ? node : undefined;
  } catch (error) {
    if (error instanceof InvalidExpression) return undefined;
    throw error;
  }
}

// Recursive descent over SPDX 2.3 Annex D: OR binds loosest, then AND, then WITH.
class Parser {
  private position = 0;
  constructor(private readonly tokens: string[]) {}

  done(): boolean {
    return this.position === this.tokens.length;
  }

  or(depth: number): Node {
    let left = this.and(depth);
    while (this.takeOperator('OR')) left = { kind: 'or', left, right: this.and(depth) };
    return left;
  }

  private and(depth: number): Node {
    let left = this.primary(depth);
    while (this.takeOperator('AND')) left = { kind: 'and', left, right: this.primary(depth) };
    return left;
  }

  private primary(depth: number): Node {
    const token = this.tokens[this.position++];
    if (token === '(') {
      if (depth >= MAX_DEPTH) throw new InvalidExpression();
      const inner = this.or(depth + 1);
      if (this.tokens[this.position++] !== ')') throw new InvalidExpression();
      return inner;
    }
    const license = token === undefined ? undefined : simpleExpression(token);
    if (license === undefined) throw new InvalidExpression();
    if (!this.takeOperator('WITH')) return { kind: 'license', text: license };
    const exception = EXCEPTIONS.get(this.tokens[this.position++]?.toLowerCase() ?? '');
    if (exception === undefined || license.startsWith('LicenseRef-') || license.startsWith('DocumentRef-')) {
      throw new InvalidExpression();
    }
    return { kind: 'with', license, exception };
  }

  // Operators are upper case in SPDX; all-lower-case ones ("MIT or Apache-2.0") are accepted and
  // written back in upper case.
  private takeOperator(operator: 'AND' | 'OR' | 'WITH'): boolean {
    const token = this.tokens[this.position];
    if (token !== operator && token !== operator.toLowerCase()) return false;
    this.position++;
    return true;
  }
}

/** A listed identifier (any case, optional `+`) or a LicenseRef, in canonical form. */
function simpleExpression(token: string): string | undefined {
  if (LICENSE_REF.test(token)) return token;
  const exact = LICENSES.get(token.toLowerCase());
  if (exact) return exact;
  if (!token.endsWith('+')) return undefined;
  const base = LICENSES.get(token.slice(0, -1).toLowerCase());
  return base && `${base}+`;
}

function print(node: Node): string {
  switch (node.kind) {
    case 'license':
      return node.text;
    case 'with':
      return `${node.license} WITH ${node.exception}`;
    case 'and':
      return `${printOperand(node.left)} AND ${printOperand(node.right)}`;
    case 'or':
      return `${print(node.left)} OR ${print(node.right)}`;
  }
}

// Inside AND only an OR needs parentheses; everything else binds at least as tightly.
function printOperand(node: Node): string {
  return node.kind === 'or' ? `(${print(node)})` : print(node);
}
