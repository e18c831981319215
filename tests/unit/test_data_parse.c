/* Class-order tables and split-file parsing: every native label of DFEW,
 * FERV39k and MAFW against dfer.md §5.4, byte-order marks, CRLF and blanks,
 * GBK caption columns, and for each malformed line a rejection whose message
 * names the file and line. */
#include <stdio.h>
#include <string.h>

#include "data/classes.h"
#include "data/dataset.h"
#include "testlib.h"

static void test_class_tables(void) {
    /* dfer.md §5.4, column by column */
    const ClassTable *dfew = class_table("dfew"), *ferv = class_table("ferv39k"), *mafw = class_table("mafw");
    EXPECT(dfew && ferv && mafw && class_table("list") && !class_table("dfew2"), "a table per dataset kind");
    static const int dfew_native_to_canonical[8] = {-1, 0, 1, 2, 3, 4, 5, 6};
    for (int n = 0; n <= 8; n++)
        EXPECT(class_from_native_number(dfew, n) == (n < 8 ? dfew_native_to_canonical[n] : -1), "DFEW %d", n);
    static const char *ferv_names[7] = {"Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"};
    static const int ferv_canonical[7] = {3, 5, 6, 0, 2, 1, 4};
    for (int i = 0; i < 7; i++) {
        EXPECT(class_from_native_name(ferv, ferv_names[i]) == ferv_canonical[i], "FERV39k %s", ferv_names[i]);
        EXPECT(class_from_native_number(ferv, i) == ferv_canonical[i], "FERV39k label_index %d", i);
    }
    static const char *mafw_names[11] = {"anger",   "disgust",  "fear",    "happiness",    "neutral",       "sadness",
                                         "surprise", "contempt", "anxiety", "helplessness", "disappointment"};
    static const int mafw_canonical[11] = {3, 5, 6, 0, 2, 1, 4, 7, 8, 9, 10};
    for (int i = 0; i < 11; i++) {
        EXPECT(class_from_native_name(mafw, mafw_names[i]) == mafw_canonical[i], "MAFW %s", mafw_names[i]);
        EXPECT(class_index(k_class_names[mafw_canonical[i]]) == mafw_canonical[i], "canonical name round trip");
        EXPECT(!strcmp(k_class_names[mafw_canonical[i]], mafw_names[i]), "MAFW names are the canonical names");
    }
    EXPECT(class_from_native_name(ferv, "happy") == 0 && class_from_native_name(ferv, "Joyful") == -1, "case, unknown");
    EXPECT(class_from_native_name(mafw, "anger_sadness") == -1, "compound labels are not classes");
    char buf[256];
    EXPECT(!strcmp(class_order_text(3, buf, sizeof buf), "happiness, sadness, neutral"), "%s", buf);
    EXPECT(strstr(class_order_describe(11, buf, sizeof buf), "DFER-CLIP order: 0 happiness") &&
               strstr(buf, "10 disappointment"),
           "%s", buf);
}

static int parse(const char *kind, const char *text, Dataset *d, Err *err) {
    return dataset_parse(kind, text, strlen(text), "split.txt", "/r", d, err);
}

static void rejects(const char *kind, const char *text, const char *where, const char *what) {
    Dataset d;
    Err err;
    EXPECT(parse(kind, text, &d, &err) != 0, "%s: '%s' rejected", kind, text);
    EXPECT(strstr(err.msg, where) && strstr(err.msg, what), "'%s' names '%s' and '%s'", err.msg, where, what);
}

static void test_tolerated_input(void) {
    Dataset d;
    Err err;
    EXPECT(parse("dfew", "\xEF\xBB\xBFvideo_name,label\r\n\r\n12 , 1 \r\n00301,7\r\n", &d, &err) == 0, "%s", err.msg);
    EXPECT(d.count == 2 && d.clips[0].label == 0 && d.clips[1].label == 6 && !strcmp(d.clips[1].id, "00301"),
           "DFEW: byte-order mark, CRLF, blank line, blanks around fields");
    dataset_free(&d);
    EXPECT(parse("ferv39k", "Action/Sad/0001\tSad  \r\nDaily/Fear/0002   Fear\n", &d, &err) == 0, "%s", err.msg);
    EXPECT(d.count == 2 && d.clips[0].label == 1 && d.clips[1].label == 6 && !strcmp(d.clips[1].id, "Daily/Fear/0002"),
           "FERV39k: tabs or runs of spaces between the columns");
    dataset_free(&d);
    /* GBK bytes, including 0x5C and 0x20..0x7E trail bytes, never confuse the columns */
    const char *mafw =
        "00007.mp4\tdisappointment\t\xca\xa7\x5c\xcd\xfb\xb5\x40\tShe sighs.\r\n00008.mp4 helplessness\r\n";
    EXPECT(parse("mafw", mafw, &d, &err) == 0, "%s", err.msg);
    EXPECT(d.count == 2 && d.clips[0].label == 10 && d.clips[1].label == 9 &&
               !strcmp(d.clips[0].caption, "She sighs.") && d.clips[1].caption == NULL && d.num_classes == 11,
           "MAFW: both split-file styles, caption kept, GBK skipped");
    dataset_free(&d);
    /* an empty English caption: its tab goes with the trailing blanks, leaving three columns */
    EXPECT(parse("mafw", "00009.mp4\tanger\t\xc5\xad\t\r\n00010.mp4\tfear\t\t  \r\n", &d, &err) == 0, "%s", err.msg);
    EXPECT(d.count == 2 && d.clips[0].label == 3 && d.clips[1].label == 6 &&
               (!d.clips[0].caption || !d.clips[0].caption[0]) && (!d.clips[1].caption || !d.clips[1].caption[0]),
           "MAFW: a with-caption line whose English caption is empty is a clip without a caption");
    dataset_free(&d);
    EXPECT(parse("list", "a/b/02522 66 5\r\n/abs/03747 105 10 \n", &d, &err) == 0, "%s", err.msg);
    EXPECT(d.count == 2 && d.clips[0].annotated_frames == 66 && d.clips[0].label == 5 &&
               !strcmp(d.clips[0].path, "/r/a/b/02522") && !strcmp(d.clips[1].path, "/abs/03747") &&
               d.num_classes == 11,
           "list: relative paths resolved against the root, absolute kept");
    dataset_free(&d);
}

static void test_rejected_input(void) {
    rejects("dfew", "video_name,label\n12,1\n13,1,2\n", "split.txt:3", "2 columns");
    rejects("dfew", "video_name,label\n12,8\n", "split.txt:2", "1..7");
    rejects("dfew", "video_name,label\n12,-1\n", "split.txt:2", "1..7");
    rejects("dfew", "video_name,label\n100000,3\n", "split.txt:2", "clip 100000 is outside DFEW's 0..99999");
    rejects("dfew", "video_name,label\n\n\n", "split.txt", "no clips");
    /* 0-based labels (label - 1): read as DFEW's, happiness was dropped as "not single-labelled" and every
     * other class shifted; a file of nothing but 0 left no clip */
    rejects("dfew", "video_name,label\n1,0\n2,0\n", "split.txt", "2 of its 2 clips are labelled 0 and none is left");
    rejects("dfew", "video_name,label\n1,0\n2,3\n3,6\n", "split.txt", "labels look 0-based");
    rejects("ferv39k", "Action/Happy/0001 Happy\nAction/Happy/0002 Happy Sad\n", "split.txt:2", "2 columns");
    rejects("ferv39k", "Action/Happy/0001\n", "split.txt:1", "2 columns");
    rejects("ferv39k", "Action/Happy/0001 Contempt\n", "split.txt:1", "unknown FERV39k emotion");
    rejects("ferv39k", "Action/Happy/0001 Happy\nParty/Sad/0002 Fear\n", "split.txt:2",
            "in the Sad folder but labelled Fear");
    rejects("mafw", "00001.mp4\tanger\t\xc5\xad\tHe frowns.\tx\r\n", "split.txt:1", "4 tab-separated columns");
    rejects("mafw", "00001.mp4 anger sadness\r\n", "split.txt:1", "2 columns");
    rejects("mafw", "00001.mp4 anger_sadness\r\n", "split.txt:1", "compound");
    rejects("mafw", "00001.mp4 Joy\r\n", "split.txt:1", "unknown MAFW label");
    rejects("list", "a 12 3\nb 99999999999 3\n", "split.txt:2", "frame count");
    rejects("list", "a 1e3 3\n", "split.txt:1", "frame count");
    rejects("list", "a 12 11\n", "split.txt:1", "outside 0..10");
    rejects("list", "a 12\n", "split.txt:1", "3 columns");
    rejects("list", "a 12 3 # note\n", "split.txt:1", "3 columns");
    rejects("list", "", "split.txt", "no clips");
    /* one clip id twice: a repeated test clip would be scored twice, two list clips with one last name would
     * share a landmark track and a description (FERV39k's per-folder numbers) */
    rejects("dfew", "video_name,label\n1,2\n1,3\n", "split.txt", "clip id '00001' is given twice");
    rejects("list", "Action/Happy/0267 10 0\nParty/Sad/0267 20 1\n", "split.txt", "clip id '0267' is given twice");
    rejects("ferv39k", "Action/Happy/0001 Happy\nAction/Happy/0001 Happy\n", "split.txt", "given twice");
    /* a list path with a trailing '/' has its folder's name as id */
    Dataset d;
    Err err;
    EXPECT(parse("list", "Action/Happy/0267/ 10 0\nParty/Sad/0268// 20 1\n", &d, &err) == 0 && d.count == 2 &&
               !strcmp(d.clips[0].id, "0267") && !strcmp(d.clips[1].id, "0268"),
           "trailing slashes: %s", err.msg);
    if (d.count) dataset_free(&d);
}

/* A fold's test clips in its training split (dataset_shared_clips, by path): data check and training refuse it. */
static void test_shared_clips(void) {
    Dataset train, test;
    Err err;
    EXPECT(parse("dfew", "video_name,label\n5,1\n2,3\n9,2\n", &train, &err) == 0, "%s", err.msg);
    EXPECT(parse("dfew", "video_name,label\n9,2\n4,1\n2,3\n", &test, &err) == 0, "%s", err.msg);
    const ClipRecord *first = (const ClipRecord *)1;
    EXPECT(dataset_shared_clips(&train, &test, &first) == 2 && first && !strcmp(first->id, "00002"),
           "two shared clips, the first by id 00002 (%s)", first ? first->id : "none");
    dataset_free(&test);
    EXPECT(parse("dfew", "video_name,label\n3,2\n4,1\n", &test, &err) == 0, "%s", err.msg);
    EXPECT(dataset_shared_clips(&train, &test, &first) == 0 && !first, "disjoint splits share none");
    dataset_free(&test);
    dataset_free(&train);
}

int main(void) {
    TEST_RUN(test_class_tables);
    TEST_RUN(test_tolerated_input);
    TEST_RUN(test_rejected_input);
    TEST_RUN(test_shared_clips);
    return test_summary();
}
