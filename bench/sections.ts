/**
 * The sections of bench/RESULTS.md that commands other than the full run write (`--costs`:
 * "Cost per unit"; `npm run bench:scale`: "Scale"), each between `<!-- name:start -->` and
 * `<!-- name:end -->`. A full run rewrites the file and keeps them.
 */
export type SectionName = 'costs' | 'scale';

export const sectionStart = (name: SectionName) => `<!-- ${name}:start -->`;
export const sectionEnd = (name: SectionName) => `<!-- ${name}:end -->`;

/** The section `name` of `markdown`, markers included, or null. */
export function sectionOf(markdown: string, name: SectionName): string | null {
  const start = markdown.indexOf(sectionStart(name));
  const end = markdown.indexOf(sectionEnd(name));
  return start !== -1 && end !== -1 ? markdown.slice(start, end + sectionEnd(name).length) : null;
}

/** `markdown` with the section `name` replaced by `section`; a new one goes before "Where authchart is not ahead". */
export function placeSection(markdown: string, name: SectionName, section: string): string {
  const start = markdown.indexOf(sectionStart(name));
  const end = markdown.indexOf(sectionEnd(name));
  if (start !== -1 && end !== -1) return `${markdown.slice(0, start)}${section}${markdown.slice(end + sectionEnd(name).length)}`;
  const notes = markdown.indexOf('\n## Where authchart is not ahead');
  if (notes !== -1) return `${markdown.slice(0, notes)}\n${section}\n${markdown.slice(notes)}`;
  return `${markdown.trimEnd()}\n\n${section}\n`;
}
