"""Carbon accounts of enterprises, institutions and residents: records, accounting, evaluation, credit reports."""
