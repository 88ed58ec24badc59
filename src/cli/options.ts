/** commander's accumulator for a repeatable flag (`-e A -e B`). */
export const collect = (value: string, previous: string[] = []) => [...previous, value];
