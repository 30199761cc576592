import { wordcountApp } from './wordcount.js';

/** The word-count demo with 4 counter partitions (`sluice demo --partitions 4`). */
export default wordcountApp(4);
