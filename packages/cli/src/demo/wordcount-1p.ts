import { wordcountApp } from './wordcount.js';

/** The word-count demo with 1 counter partition (`sluice demo --partitions 1`). */
export default wordcountApp(1);
