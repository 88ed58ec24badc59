import { randomBytes, randomInt } from 'node:crypto';

// Docker's "adjective_scientist" names, from a shorter list.
const adjectives = ['admiring', 'brave', 'busy', 'clever', 'dazzling', 'eager', 'elastic', 'festive', 'focused', 'gallant', 'happy', 'jolly', 'keen', 'loving', 'modest', 'nifty', 'optimistic', 'peaceful', 'quirky', 'relaxed', 'serene', 'sharp', 'stoic', 'tender', 'vibrant', 'wizardly', 'youthful', 'zealous'];
const surnames = ['archimedes', 'babbage', 'curie', 'darwin', 'einstein', 'euler', 'faraday', 'galileo', 'hopper', 'hypatia', 'johnson', 'kepler', 'lamarr', 'lovelace', 'meitner', 'newton', 'noether', 'pasteur', 'ritchie', 'shannon', 'thompson', 'torvalds', 'turing', 'wozniak'];

export function randomName(): string {
  return `${adjectives[randomInt(adjectives.length)]}_${surnames[randomInt(surnames.length)]}`;
}

export function newContainerId(): string {
  return randomBytes(32).toString('hex');
}

/** Docker's rule for --name: [a-zA-Z0-9][a-zA-Z0-9_.-]+ */
export const validName = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
