/* test_compat — the schema registry's compatibility rules (src/registry/compat.c), table-driven:
 * each case is (type, level, previous versions oldest first, new schema, expected verdict,
 * expected reason fragments). Plus validation/normalisation of valid and invalid schemas and
 * Avro named types coming from references.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "registry/compat.h"

#define A STYPE_AVRO
#define J STYPE_JSON

/* Avro record helpers */
#define REC(fields)                                                                                \
    "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"t\",\"fields\":[" fields "]}"
#define F(n, t) "{\"name\":\"" n "\",\"type\":" t "}"
#define FD(n, t, d) "{\"name\":\"" n "\",\"type\":" t ",\"default\":" d "}"
#define ENUM(syms) "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[" syms "]}"
#define ENUMD(syms, d) "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[" syms "],\"default\":" d "}"
/* JSON Schema object helpers */
#define OBJ(props) "{\"type\":\"object\",\"properties\":{" props "}}"
#define OBJC(props)                                                                                \
    "{\"type\":\"object\",\"properties\":{" props "},\"additionalProperties\":false}"
#define OBJR(props, req) "{\"type\":\"object\",\"properties\":{" props "},\"required\":[" req "]}"

typedef struct ccase {
    const char *name;
    int type;
    int level;
    const char *prev[3]; /* oldest first, NULL-terminated */
    const char *news;
    bool compatible;
    const char *why1, *why2; /* substrings expected in the reasons (when incompatible) */
} ccase;

static const ccase cases[] = {
    /* ---------------- Avro ---------------- */
    {"avro add field with default",
     A,
     CL_BACKWARD,
     {REC(F("a", "\"int\""))},
     REC(F("a", "\"int\"") "," FD("b", "\"string\"", "\"x\"")),
     true,
     NULL,
     NULL},
    {"avro add field without default",
     A,
     CL_BACKWARD,
     {REC(F("a", "\"int\""))},
     REC(F("a", "\"int\"") "," F("b", "\"string\"")),
     false,
     "READER_FIELD_MISSING_DEFAULT_VALUE",
     "'b'"},
    {"avro forward add field without default",
     A,
     CL_FORWARD,
     {REC(F("a", "\"int\""))},
     REC(F("a", "\"int\"") "," F("b", "\"string\"")),
     true,
     NULL,
     NULL},
    {"avro forward remove field without default",
     A,
     CL_FORWARD,
     {REC(F("a", "\"int\"") "," F("b", "\"string\""))},
     REC(F("a", "\"int\"")),
     false,
     "READER_FIELD_MISSING_DEFAULT_VALUE",
     "'b'"},
    {"avro backward remove field",
     A,
     CL_BACKWARD,
     {REC(F("a", "\"int\"") "," F("b", "\"string\""))},
     REC(F("a", "\"int\"")),
     true,
     NULL,
     NULL},
    {"avro full add field with default",
     A,
     CL_FULL,
     {REC(F("a", "\"int\""))},
     REC(F("a", "\"int\"") "," FD("b", "\"int\"", "0")),
     true,
     NULL,
     NULL},
    {"avro full add field without default",
     A,
     CL_FULL,
     {REC(F("a", "\"int\""))},
     REC(F("a", "\"int\"") "," F("b", "\"int\"")),
     false,
     "READER_FIELD_MISSING_DEFAULT_VALUE",
     "'b'"},
    {"avro full remove field with default",
     A,
     CL_FULL,
     {REC(F("a", "\"int\"") "," FD("b", "\"int\"", "0"))},
     REC(F("a", "\"int\"")),
     true,
     NULL,
     NULL},
    {"avro int to long (promotion)",
     A,
     CL_BACKWARD,
     {REC(F("a", "\"int\""))},
     REC(F("a", "\"long\"")),
     true,
     NULL,
     NULL},
    {"avro long to int",
     A,
     CL_BACKWARD,
     {REC(F("a", "\"long\""))},
     REC(F("a", "\"int\"")),
     false,
     "TYPE_MISMATCH",
     "/fields/a"},
    {"avro forward int to long",
     A,
     CL_FORWARD,
     {REC(F("a", "\"int\""))},
     REC(F("a", "\"long\"")),
     false,
     "TYPE_MISMATCH",
     "no promotion from long to int"},
    {"avro float to double",
     A,
     CL_BACKWARD,
     {REC(F("a", "\"float\""))},
     REC(F("a", "\"double\"")),
     true,
     NULL,
     NULL},
    {"avro int to double",
     A,
     CL_BACKWARD,
     {REC(F("a", "\"int\""))},
     REC(F("a", "\"double\"")),
     true,
     NULL,
     NULL},
    {"avro long to float",
     A,
     CL_BACKWARD,
     {REC(F("a", "\"long\""))},
     REC(F("a", "\"float\"")),
     true,
     NULL,
     NULL},
    {"avro double to float",
     A,
     CL_BACKWARD,
     {REC(F("a", "\"double\""))},
     REC(F("a", "\"float\"")),
     false,
     "TYPE_MISMATCH",
     NULL},
    {"avro string to bytes",
     A,
     CL_BACKWARD,
     {REC(F("a", "\"string\""))},
     REC(F("a", "\"bytes\"")),
     true,
     NULL,
     NULL},
    {"avro bytes to string",
     A,
     CL_FULL,
     {REC(F("a", "\"bytes\""))},
     REC(F("a", "\"string\"")),
     true,
     NULL,
     NULL},
    {"avro string to int",
     A,
     CL_BACKWARD,
     {REC(F("a", "\"string\""))},
     REC(F("a", "\"int\"")),
     false,
     "TYPE_MISMATCH",
     "/fields/a"},
    {"avro enum symbol added (backward)",
     A,
     CL_BACKWARD,
     {ENUM("\"A\",\"B\"")},
     ENUM("\"A\",\"B\",\"C\""),
     true,
     NULL,
     NULL},
    {"avro enum symbol added (forward)",
     A,
     CL_FORWARD,
     {ENUM("\"A\",\"B\"")},
     ENUM("\"A\",\"B\",\"C\""),
     false,
     "MISSING_ENUM_SYMBOLS",
     "symbol C"},
    {"avro enum symbol added, old has default",
     A,
     CL_FORWARD,
     {ENUMD("\"A\",\"B\"", "\"A\"")},
     ENUM("\"A\",\"B\",\"C\""),
     true,
     NULL,
     NULL},
    {"avro enum symbol removed",
     A,
     CL_BACKWARD,
     {ENUM("\"A\",\"B\"")},
     ENUM("\"A\""),
     false,
     "MISSING_ENUM_SYMBOLS",
     "symbol B"},
    {"avro string to nullable union",
     A,
     CL_BACKWARD,
     {REC(F("a", "\"string\""))},
     REC(F("a", "[\"null\",\"string\"]")),
     true,
     NULL,
     NULL},
    {"avro nullable union read by plain string",
     A,
     CL_FORWARD,
     {REC(F("a", "\"string\""))},
     REC(F("a", "[\"null\",\"string\"]")),
     false,
     "TYPE_MISMATCH",
     "null"},
    {"avro union narrowed",
     A,
     CL_BACKWARD,
     {REC(F("a", "[\"null\",\"string\",\"int\"]"))},
     REC(F("a", "[\"null\",\"string\"]")),
     false,
     "MISSING_UNION_BRANCH",
     "int"},
    {"avro union branch promoted",
     A,
     CL_BACKWARD,
     {REC(F("a", "[\"null\",\"int\"]"))},
     REC(F("a", "[\"null\",\"long\"]")),
     true,
     NULL,
     NULL},
    {"avro field renamed with alias",
     A,
     CL_BACKWARD,
     {REC(F("a", "\"int\""))},
     REC("{\"name\":\"b\",\"type\":\"int\",\"aliases\":[\"a\"]}"),
     true,
     NULL,
     NULL},
    {"avro field renamed without alias",
     A,
     CL_BACKWARD,
     {REC(F("a", "\"int\""))},
     REC(F("b", "\"int\"")),
     false,
     "READER_FIELD_MISSING_DEFAULT_VALUE",
     "'b'"},
    {"avro record renamed",
     A,
     CL_BACKWARD,
     {"{\"type\":\"record\",\"name\":\"X\",\"fields\":[]}"},
     "{\"type\":\"record\",\"name\":\"Y\",\"fields\":[]}",
     false,
     "NAME_MISMATCH",
     NULL},
    {"avro enum renamed",
     A,
     CL_BACKWARD,
     {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}"},
     "{\"type\":\"enum\",\"name\":\"F\",\"symbols\":[\"A\"]}",
     false,
     "NAME_MISMATCH",
     "enum E of the"},
    {"avro fixed renamed",
     A,
     CL_BACKWARD,
     {"{\"type\":\"fixed\",\"name\":\"G\",\"size\":4}"},
     "{\"type\":\"fixed\",\"name\":\"H\",\"size\":4}",
     false,
     "NAME_MISMATCH",
     "fixed G of the"},
    {"avro record renamed with alias",
     A,
     CL_BACKWARD,
     {"{\"type\":\"record\",\"name\":\"X\",\"fields\":[]}"},
     "{\"type\":\"record\",\"name\":\"Y\",\"aliases\":[\"X\"],\"fields\":[]}",
     true,
     NULL,
     NULL},
    {"avro array items promoted",
     A,
     CL_BACKWARD,
     {REC(F("a", "{\"type\":\"array\",\"items\":\"int\"}"))},
     REC(F("a", "{\"type\":\"array\",\"items\":\"long\"}")),
     true,
     NULL,
     NULL},
    {"avro map values changed",
     A,
     CL_BACKWARD,
     {REC(F("a", "{\"type\":\"map\",\"values\":\"string\"}"))},
     REC(F("a", "{\"type\":\"map\",\"values\":\"int\"}")),
     false,
     "TYPE_MISMATCH",
     "/fields/a/values"},
    {"avro fixed size changed",
     A,
     CL_BACKWARD,
     {"{\"type\":\"fixed\",\"name\":\"H\",\"size\":16}"},
     "{\"type\":\"fixed\",\"name\":\"H\",\"size\":32}",
     false,
     "FIXED_SIZE_MISMATCH",
     "H"},
    {"avro recursive list gains a defaulted field",
     A,
     CL_FULL,
     {"{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"v\",\"type\":\"int\"},"
      "{\"name\":\"next\",\"type\":[\"null\",\"L\"]}]}"},
     "{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"v\",\"type\":\"int\"},"
     "{\"name\":\"next\",\"type\":[\"null\",\"L\"]},{\"name\":\"w\",\"type\":\"int\","
     "\"default\":1}]}",
     true,
     NULL,
     NULL},
    {"avro recursive list field type narrowed",
     A,
     CL_BACKWARD,
     {"{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"v\",\"type\":\"long\"},"
      "{\"name\":\"next\",\"type\":[\"null\",\"L\"]}]}"},
     "{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"v\",\"type\":\"int\"},"
     "{\"name\":\"next\",\"type\":[\"null\",\"L\"]}]}",
     false,
     "TYPE_MISMATCH",
     "/fields/v"},
    {"avro nested record field",
     A,
     CL_BACKWARD,
     {REC(F("n", "{\"type\":\"record\",\"name\":\"N\",\"fields\":[" F("x", "\"int\"") "]}"))},
     REC(F("n", "{\"type\":\"record\",\"name\":\"N\",\"fields\":[" F("x", "\"int\"") "," F(
                    "y", "\"int\"") "]}")),
     false,
     "READER_FIELD_MISSING_DEFAULT_VALUE",
     "/fields/n/fields/y"},
    {"avro NONE allows anything",
     A,
     CL_NONE,
     {REC(F("a", "\"int\""))},
     "\"string\"",
     true,
     NULL,
     NULL},
    {"avro backward checks only the latest",
     A,
     CL_BACKWARD,
     {REC(F("a", "\"int\"")), REC(F("a", "\"int\"") "," FD("b", "\"int\"", "1"))},
     REC(F("a", "\"int\"") "," F("b", "\"int\"")),
     true,
     NULL,
     NULL},
    {"avro backward transitive checks all",
     A,
     CL_BACKWARD_TRANSITIVE,
     {REC(F("a", "\"int\"")), REC(F("a", "\"int\"") "," FD("b", "\"int\"", "1"))},
     REC(F("a", "\"int\"") "," F("b", "\"int\"")),
     false,
     "READER_FIELD_MISSING_DEFAULT_VALUE",
     "oldSchemaVersion: 1"},
    {"avro forward checks only the latest",
     A,
     CL_FORWARD,
     {REC(F("a", "\"int\"") "," F("b", "\"int\"")),
      REC(F("a", "\"int\"") "," FD("b", "\"int\"", "1"))},
     REC(F("a", "\"int\"")),
     true,
     NULL,
     NULL},
    {"avro forward transitive checks all",
     A,
     CL_FORWARD_TRANSITIVE,
     {REC(F("a", "\"int\"") "," F("b", "\"int\"")),
      REC(F("a", "\"int\"") "," FD("b", "\"int\"", "1"))},
     REC(F("a", "\"int\"")),
     false,
     "READER_FIELD_MISSING_DEFAULT_VALUE",
     "'b'"},
    {"avro full transitive",
     A,
     CL_FULL_TRANSITIVE,
     {REC(F("a", "\"int\"")), REC(F("a", "\"long\""))},
     REC(F("a", "\"long\"")),
     false,
     "TYPE_MISMATCH",
     "oldSchemaVersion: 1"},
    /* ---------------- JSON Schema ---------------- */
    {"json anyOf of identical local $refs whose target changed type",
     J,
     CL_BACKWARD,
     {"{\"$defs\":{\"x\":" OBJ(
         "\"n\":{\"type\":\"integer\"}") "},\"anyOf\":[{\"$ref\":\"#/$defs/x\"}]}"},
     "{\"$defs\":{\"x\":" OBJ(
         "\"n\":{\"type\":\"string\"}") "},\"anyOf\":[{\"$ref\":\"#/$defs/x\"}]}",
     false,
     "COMBINED_TYPE_SUBSCHEMAS_CHANGED",
     NULL},
    {"json $ref with a percent-escaped name (#/$defs/my%20x) follows it like the validator",
     J,
     CL_BACKWARD,
     {"{\"$defs\":{\"my x\":" OBJ(
         "\"n\":{\"type\":\"integer\"}") "},\"anyOf\":[{\"$ref\":\"#/$defs/my%20x\"}]}"},
     "{\"$defs\":{\"my x\":" OBJ(
         "\"n\":{\"type\":\"string\"}") "},\"anyOf\":[{\"$ref\":\"#/$defs/my%20x\"}]}",
     false,
     "COMBINED_TYPE_SUBSCHEMAS_CHANGED",
     NULL},
    {"json anyOf of identical local $refs, target unchanged",
     J,
     CL_BACKWARD,
     {"{\"$defs\":{\"x\":" OBJ(
         "\"n\":{\"type\":\"integer\"}") "},\"anyOf\":[{\"$ref\":\"#/$defs/x\"}]}"},
     "{\"$defs\":{\"x\":" OBJ(
         "\"n\":{\"type\":\"integer\"}") "},\"anyOf\":[{\"$ref\":\"#/$defs/x\"}]}",
     true,
     NULL,
     NULL},
    {"json property added to closed model",
     J,
     CL_BACKWARD,
     {OBJC("\"a\":{\"type\":\"string\"}")},
     OBJC("\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"integer\"}"),
     true,
     NULL,
     NULL},
    {"json property added to open model",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"type\":\"string\"}")},
     OBJ("\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"integer\"}"),
     false,
     "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
     "'b'"},
    {"json property removed from open model",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"integer\"}")},
     OBJ("\"a\":{\"type\":\"string\"}"),
     true,
     NULL,
     NULL},
    {"json property removed from closed model",
     J,
     CL_BACKWARD,
     {OBJC("\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"integer\"}")},
     OBJC("\"a\":{\"type\":\"string\"}"),
     false,
     "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
     "'b'"},
    {"json required property added",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"type\":\"string\"}")},
     OBJR("\"a\":{\"type\":\"string\"}", "\"a\""),
     false,
     "REQUIRED_PROPERTY_ADDED",
     "'a'"},
    {"json required property dropped",
     J,
     CL_BACKWARD,
     {OBJR("\"a\":{\"type\":\"string\"}", "\"a\"")},
     OBJ("\"a\":{\"type\":\"string\"}"),
     true,
     NULL,
     NULL},
    {"json forward required property added",
     J,
     CL_FORWARD,
     {OBJ("\"a\":{\"type\":\"string\"}")},
     OBJR("\"a\":{\"type\":\"string\"}", "\"a\""),
     true,
     NULL,
     NULL},
    {"json full required property added",
     J,
     CL_FULL,
     {OBJ("\"a\":{\"type\":\"string\"}")},
     OBJR("\"a\":{\"type\":\"string\"}", "\"a\""),
     false,
     "REQUIRED_PROPERTY_ADDED",
     NULL},
    {"json integer widened to number",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"type\":\"integer\"}")},
     OBJ("\"a\":{\"type\":\"number\"}"),
     true,
     NULL,
     NULL},
    {"json number narrowed to integer",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"type\":\"number\"}")},
     OBJ("\"a\":{\"type\":\"integer\"}"),
     false,
     "TYPE_NARROWED",
     "/properties/a/type"},
    {"json string changed to integer",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"type\":\"string\"}")},
     OBJ("\"a\":{\"type\":\"integer\"}"),
     false,
     "TYPE_CHANGED",
     "'string'"},
    {"json type widened to a union",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"type\":\"string\"}")},
     OBJ("\"a\":{\"type\":[\"string\",\"null\"]}"),
     true,
     NULL,
     NULL},
    {"json type union narrowed",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"type\":[\"string\",\"null\"]}")},
     OBJ("\"a\":{\"type\":\"string\"}"),
     false,
     "TYPE_NARROWED",
     "'null'"},
    {"json enum extended",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"enum\":[\"x\",\"y\"]}")},
     OBJ("\"a\":{\"enum\":[\"x\",\"y\",\"z\"]}"),
     true,
     NULL,
     NULL},
    {"json enum narrowed",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"enum\":[\"x\",\"y\"]}")},
     OBJ("\"a\":{\"enum\":[\"x\"]}"),
     false,
     "ENUM_ARRAY_NARROWED",
     "value \\\"y\\\""},
    {"json enum extended (forward)",
     J,
     CL_FORWARD,
     {OBJ("\"a\":{\"enum\":[\"x\",\"y\"]}")},
     OBJ("\"a\":{\"enum\":[\"x\",\"y\",\"z\"]}"),
     false,
     "ENUM_ARRAY_NARROWED",
     "value \\\"z\\\""},
    {"json maxLength decreased",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"type\":\"string\",\"maxLength\":10}")},
     OBJ("\"a\":{\"type\":\"string\",\"maxLength\":5}"),
     false,
     "MAX_DECREASED",
     "maxLength"},
    {"json maxLength increased",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"type\":\"string\",\"maxLength\":10}")},
     OBJ("\"a\":{\"type\":\"string\",\"maxLength\":20}"),
     true,
     NULL,
     NULL},
    {"json minimum increased",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"type\":\"number\",\"minimum\":0}")},
     OBJ("\"a\":{\"type\":\"number\",\"minimum\":1}"),
     false,
     "MIN_INCREASED",
     "minimum"},
    {"json minimum added",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"type\":\"number\"}")},
     OBJ("\"a\":{\"type\":\"number\",\"minimum\":1}"),
     false,
     "MIN_ADDED",
     "minimum"},
    {"json maximum removed",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"type\":\"number\",\"maximum\":9}")},
     OBJ("\"a\":{\"type\":\"number\"}"),
     true,
     NULL,
     NULL},
    {"json items narrowed",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"type\":\"array\",\"items\":{\"type\":\"number\"}}")},
     OBJ("\"a\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}"),
     false,
     "TYPE_NARROWED",
     "/properties/a/items"},
    {"json items widened",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}")},
     OBJ("\"a\":{\"type\":\"array\",\"items\":{\"type\":\"number\"}}"),
     true,
     NULL,
     NULL},
    {"json maxItems added",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"type\":\"array\"}")},
     OBJ("\"a\":{\"type\":\"array\",\"maxItems\":3}"),
     false,
     "MAX_ADDED",
     "maxItems"},
    {"json content model closed",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"type\":\"string\"}")},
     OBJC("\"a\":{\"type\":\"string\"}"),
     false,
     "ADDITIONAL_PROPERTIES_REMOVED",
     NULL},
    {"json content model opened",
     J,
     CL_BACKWARD,
     {OBJC("\"a\":{\"type\":\"string\"}")},
     OBJ("\"a\":{\"type\":\"string\"}"),
     true,
     NULL,
     NULL},
    {"json forward property added to open model",
     J,
     CL_FORWARD,
     {OBJ("\"a\":{\"type\":\"string\"}")},
     OBJ("\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"integer\"}"),
     true,
     NULL,
     NULL},
    {"json nested property narrowed",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":" OBJ("\"b\":{\"type\":\"number\"}"))},
     OBJ("\"a\":" OBJ("\"b\":{\"type\":\"integer\"}")),
     false,
     "TYPE_NARROWED",
     "/properties/a/properties/b"},
    {"json oneOf gains a branch",
     J,
     CL_BACKWARD,
     {"{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}"},
     "{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"},{\"type\":\"null\"}]}",
     true,
     NULL,
     NULL},
    {"json oneOf loses a branch",
     J,
     CL_BACKWARD,
     {"{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}"},
     "{\"oneOf\":[{\"type\":\"string\"}]}",
     false,
     "COMBINED_TYPE_SUBSCHEMAS_CHANGED",
     NULL},
    {"json pattern added",
     J,
     CL_BACKWARD,
     {OBJ("\"a\":{\"type\":\"string\"}")},
     OBJ("\"a\":{\"type\":\"string\",\"pattern\":\"^x\"}"),
     false,
     "PATTERN_ADDED",
     NULL},
    {"json backward transitive",
     J,
     CL_BACKWARD_TRANSITIVE,
     {OBJC("\"a\":{\"type\":\"number\"}"), OBJC("\"a\":{\"type\":\"integer\"}")},
     OBJC("\"a\":{\"type\":\"integer\"}"),
     false,
     "TYPE_NARROWED",
     "oldSchemaVersion: 1"},
    {"json local $ref followed",
     J,
     CL_BACKWARD,
     {"{\"definitions\":{\"q\":{\"type\":\"number\"}},\"type\":\"object\","
      "\"properties\":{\"a\":{\"$ref\":\"#/definitions/q\"}}}"},
     "{\"definitions\":{\"q\":{\"type\":\"integer\"}},\"type\":\"object\","
     "\"properties\":{\"a\":{\"$ref\":\"#/definitions/q\"}}}",
     false,
     "TYPE_NARROWED",
     "/properties/a"},
    {"json recursive $ref tree gains an optional property",
     J,
     CL_BACKWARD,
     {"{\"definitions\":{\"n\":{\"type\":\"object\",\"additionalProperties\":false,"
      "\"properties\":{\"l\":{\"$ref\":\"#/definitions/n\"},"
      "\"r\":{\"$ref\":\"#/definitions/n\"}}}},\"$ref\":\"#/definitions/n\"}"},
     "{\"definitions\":{\"n\":{\"type\":\"object\",\"additionalProperties\":false,"
     "\"properties\":{\"l\":{\"$ref\":\"#/definitions/n\"},"
     "\"r\":{\"$ref\":\"#/definitions/n\"},\"v\":{\"type\":\"string\"}}}},"
     "\"$ref\":\"#/definitions/n\"}",
     true,
     NULL,
     NULL},
    {"json NONE",
     J,
     CL_NONE,
     {OBJ("\"a\":{\"type\":\"string\"}")},
     "{\"type\":\"integer\"}",
     true,
     NULL,
     NULL},
    {"json full transitive passes",
     J,
     CL_FULL_TRANSITIVE,
     {OBJ("\"a\":{\"type\":\"string\"}"), OBJ("\"a\":{\"type\":\"string\"}")},
     OBJ("\"a\":{\"type\":\"string\",\"description\":\"doc\"}"),
     true,
     NULL,
     NULL},
};

static void test_table(void **state)
{
    (void)state;
    int failures = 0, n = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const ccase *c = &cases[i];
        schema_src prev[3];
        int versions[3];
        int np = 0;
        for (; np < 3 && c->prev[np]; np++) {
            prev[np] = (schema_src){c->prev[np], NULL, 0};
            versions[np] = np + 1;
            char err[256] = "";
            char *norm = schema_normalize(c->type, &prev[np], err, sizeof err);
            if (!norm) {
                printf("case '%s': previous schema invalid: %s\n", c->name, err);
                failures++;
            }
            free(norm);
        }
        schema_src ns = {c->news, NULL, 0};
        json_t *reasons = json_array();
        bool ok = compat_check(c->type, c->level, &ns, prev, versions, np, reasons);
        char *rs = json_dumps(reasons, JSON_COMPACT);
        bool good = ok == c->compatible;
        if (good && !ok) {
            if (c->why1 && !strstr(rs, c->why1)) good = false;
            if (c->why2 && !strstr(rs, c->why2)) good = false;
        }
        if (good && ok && json_array_size(reasons)) good = false;
        if (!good) {
            printf("FAIL case '%s' (%s %s): got %s, expected %s; reasons %s\n", c->name,
                   schema_type_name(c->type), compat_level_name(c->level),
                   ok ? "compatible" : "incompatible",
                   c->compatible ? "compatible" : "incompatible", rs);
            failures++;
        }
        n++;
        free(rs);
        json_decref(reasons);
    }
    printf("compatibility table: %d cases, %d passed\n", n, n - failures);
    assert_true(n >= 40);
    assert_int_equal(failures, 0);
}

static void test_invalid(void **state)
{
    (void)state;
    static const struct {
        int type;
        const char *text;
    } bad[] = {
        {A, "{\"type\":\"record\",\"fields\":[]}"},                          /* no name */
        {A, "{\"type\":\"record\",\"name\":\"R\"}"},                         /* no fields */
        {A, "\"Unknown\""},                                                  /* unknown type */
        {A, "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"A\"]}"}, /* dup symbol */
        {A, "[\"int\",\"int\"]"},                                            /* dup branch */
        {A, REC(FD("a", "\"int\"", "\"x\""))},                               /* bad default */
        {A, REC(F("a", "\"int\"") "," F("a", "\"long\""))},                  /* dup field */
        {A, "{\"type\":\"fixed\",\"name\":\"F\"}"},                          /* no size */
        {A, "{not json"},
        {J, "{\"type\":\"strin\"}"},
        {J, "{\"properties\":[]}"},
        {J, "{\"required\":\"a\"}"},
        {J, "42"},
        {J, ""},
        {STYPE_PROTOBUF, "syntax = \"proto3\";"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        schema_src s = {bad[i].text, NULL, 0};
        char *n = schema_normalize(bad[i].type, &s, err, sizeof err);
        if (n) printf("accepted invalid schema %zu: %s\n", i, bad[i].text);
        assert_null(n);
        assert_true(err[0] != 0);
    }
}

static void test_normalize_and_refs(void **state)
{
    (void)state;
    char err[256] = "";
    schema_src s = {" { \"type\" : \"record\", \"name\":\"R\", \"fields\" : [ ] } ", NULL, 0};
    char *n = schema_normalize(A, &s, err, sizeof err);
    assert_non_null(n);
    assert_string_equal(n, "{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}");
    free(n);
    schema_src prim = {"\"string\"", NULL, 0};
    n = schema_normalize(A, &prim, err, sizeof err);
    assert_string_equal(n, "\"string\"");
    free(n);
    /* a named type from a reference */
    schema_ref_text refs[] = {{"com.acme.Addr", "{\"type\":\"record\",\"name\":\"Addr\","
                                                "\"namespace\":\"com.acme\",\"fields\":["
                                                "{\"name\":\"city\",\"type\":\"string\"}]}"}};
    schema_src user = {"{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"com.acme\","
                       "\"fields\":[{\"name\":\"addr\",\"type\":\"com.acme.Addr\"}]}",
                       refs, 1};
    n = schema_normalize(A, &user, err, sizeof err);
    assert_non_null(n);
    free(n);
    schema_src noref = {user.text, NULL, 0};
    n = schema_normalize(A, &noref, err, sizeof err);
    assert_null(n);
    assert_non_null(strstr(err, "com.acme.Addr"));
    /* compatibility through the reference: the referenced record is compared too */
    schema_ref_text refs2[] = {{"com.acme.Addr", "{\"type\":\"record\",\"name\":\"Addr\","
                                                 "\"namespace\":\"com.acme\",\"fields\":["
                                                 "{\"name\":\"city\",\"type\":\"string\"},"
                                                 "{\"name\":\"zip\",\"type\":\"string\"}]}"}};
    schema_src user2 = {user.text, refs2, 1};
    json_t *reasons = json_array();
    assert_false(compat_check(A, CL_BACKWARD, &user2, &user, NULL, 1, reasons));
    char *rs = json_dumps(reasons, JSON_COMPACT);
    assert_non_null(strstr(rs, "'zip'"));
    free(rs);
    json_decref(reasons);
    /* JSON schema normalisation keeps key order, drops whitespace */
    schema_src js = {"{ \"type\": \"object\", \"properties\": {} }", NULL, 0};
    n = schema_normalize(J, &js, err, sizeof err);
    assert_string_equal(n, "{\"type\":\"object\",\"properties\":{}}");
    free(n);
}

static void test_canonical(void **state)
{
    (void)state;
    char *a = schema_canonical(A, "{\"type\":\"record\",\"name\":\"R\",\"fields\":"
                                  "[{\"name\":\"x\",\"type\":{\"type\":\"int\"}}]}");
    char *b = schema_canonical(A, " { \"fields\" : [ {\"type\":\"int\", \"name\":\"x\"} ],"
                                  " \"name\":\"R\", \"type\":\"record\" } ");
    char *c = schema_canonical(A, "{\"type\":\"record\",\"name\":\"R\",\"fields\":"
                                  "[{\"name\":\"x\",\"type\":\"int\",\"default\":1}]}");
    char *d = schema_canonical(A, "{\"type\":\"int\",\"logicalType\":\"date\"}");
    assert_non_null(a);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c); /* a default is part of the schema */
    assert_string_not_equal(d, "\"int\"");
    free(a);
    free(b);
    free(c);
    free(d);
    assert_null(schema_canonical(J, "{nope"));
}

/* Large schemas stay linear: 30000 enum symbols and a 30000-field record. */
static void test_large(void **state)
{
    (void)state;
    size_t cap = 30000 * 40 + 256;
    char *e1 = malloc(cap), *e2 = malloc(cap), *r1 = malloc(cap), *r2 = malloc(cap);
    size_t n1 = (size_t)sprintf(e1, "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[");
    size_t n2 = (size_t)sprintf(e2, "%s", e1);
    size_t m1 = (size_t)sprintf(r1, "{\"type\":\"record\",\"name\":\"R\",\"fields\":[");
    size_t m2 = (size_t)sprintf(r2, "%s", r1);
    for (int i = 0; i < 30000; i++) {
        n1 += (size_t)sprintf(e1 + n1, "%s\"S%d\"", i ? "," : "", i);
        if (i != 777) n2 += (size_t)sprintf(e2 + n2, "%s\"S%d\"", n2 > 40 ? "," : "", i);
        m1 += (size_t)sprintf(r1 + m1, "%s{\"name\":\"f%d\",\"type\":\"int\"}", i ? "," : "", i);
        m2 += (size_t)sprintf(r2 + m2, "%s{\"name\":\"f%d\",\"type\":\"%s\"}", i ? "," : "",
                              29999 - i, i == 0 ? "string" : "long");
    }
    sprintf(e1 + n1, "]}");
    sprintf(e2 + n2, "]}");
    sprintf(r1 + m1, "]}");
    sprintf(r2 + m2, "]}");
    schema_src se1 = {e1, NULL, 0}, se2 = {e2, NULL, 0}, sr1 = {r1, NULL, 0}, sr2 = {r2, NULL, 0};
    json_t *reasons = json_array();
    assert_false(compat_check(A, CL_BACKWARD, &se2, &se1, NULL, 1, reasons));
    char *rs = json_dumps(reasons, JSON_COMPACT);
    assert_non_null(strstr(rs, "symbol S777"));
    free(rs);
    json_array_clear(reasons);
    assert_false(compat_check(A, CL_BACKWARD, &sr2, &sr1, NULL, 1, reasons));
    rs = json_dumps(reasons, JSON_COMPACT);
    assert_non_null(strstr(rs, "/fields/f29999")); /* int → string, the only mismatch */
    assert_int_equal(json_array_size(reasons), 2); /* + the compatibility line */
    free(rs);
    json_decref(reasons);
    free(e1);
    free(e2);
    free(r1);
    free(r2);
}

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(compat_level_parse("FULL_TRANSITIVE"), CL_FULL_TRANSITIVE);
    assert_int_equal(compat_level_parse("bogus"), -1);
    assert_int_equal(schema_type_parse(NULL), STYPE_AVRO);
    assert_int_equal(schema_type_parse("JSON"), STYPE_JSON);
    assert_int_equal(schema_type_parse("XML"), -1);
    assert_string_equal(compat_level_name(CL_BACKWARD), "BACKWARD");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_normalize_and_refs),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
