import { randomInt } from 'node:crypto';

// Node names are DNS labels under the network's domain, so they follow RFC 1123:
// lowercase letters, digits and dashes, at most 63 characters, no leading/trailing dash.
export const MAX_LABEL = 63;

export function sanitizeHostname(hostname: string | undefined): string | null {
  if (!hostname) return null;
  const label = hostname
    .split('.')[0]
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .slice(0, MAX_LABEL)
    .replace(/^-+|-+$/g, '');
  return label.length > 0 ? label : null;
}

const ADJECTIVES = ['amber', 'brave', 'calm', 'clever', 'cosmic', 'crisp', 'dusty', 'eager', 'fancy', 'gentle', 'happy', 'hidden', 'icy', 'jolly', 'keen', 'lively', 'lucky', 'mellow', 'misty', 'nimble', 'noble', 'quiet', 'rapid', 'rustic', 'shiny', 'silent', 'sunny', 'swift', 'tidy', 'vivid', 'witty', 'zesty'];
const NOUNS = ['badger', 'beacon', 'birch', 'canyon', 'comet', 'coral', 'falcon', 'fern', 'fjord', 'garnet', 'harbor', 'heron', 'island', 'lagoon', 'lynx', 'maple', 'meadow', 'nebula', 'otter', 'pebble', 'pine', 'quartz', 'raven', 'reef', 'river', 'sparrow', 'summit', 'thistle', 'tundra', 'valley', 'willow', 'yak'];

export function generatedName(rand: (n: number) => number = randomInt): string {
  return `${ADJECTIVES[rand(ADJECTIVES.length)]}-${NOUNS[rand(NOUNS.length)]}`;
}

/**
 * Picks unique names. Remembers, per base name, the next suffix worth trying so a
 * thousand `laptop`s cost O(1) each rather than a probe from `laptop-2` every time.
 */
export class NameAllocator {
  private readonly used = new Set<string>();
  private readonly nextSuffix = new Map<string, number>();
  /** Candidate names allocate() has tried, ever (O(1) amortised per allocation). */
  probes = 0;

  has(name: string): boolean {
    return this.used.has(name);
  }

  markUsed(name: string): void {
    this.used.add(name);
  }

  release(name: string): void {
    this.used.delete(name);
  }

  /** Reserves and returns a free name derived from `base` (`base`, `base-2`, ...). */
  allocate(base: string): string {
    if (!this.used.has(base)) {
      this.used.add(base);
      return base;
    }
    for (let n = this.nextSuffix.get(base) ?? 2; ; n++) {
      const suffix = `-${n}`;
      const name = base.slice(0, MAX_LABEL - suffix.length).replace(/-+$/, '') + suffix;
      this.probes++;
      if (!this.used.has(name)) {
        this.used.add(name);
        this.nextSuffix.set(base, n + 1);
        return name;
      }
    }
  }
}
