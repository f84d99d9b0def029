#include "app/demo/people.h"

#include <cstdio>

namespace carerecord::app::demo {
namespace {

using std::string_view;

// The tables below keep one entry per line or two; clang-format would stack every field.
// clang-format off

// Common names, combined at random; the streets are invented.
constexpr string_view kFemaleNamesOlder[] = {
    "Margaret", "Patricia", "Susan", "Jean", "Barbara", "Elizabeth", "Mary", "Joan", "Dorothy",
    "Sheila", "Brenda", "Pauline", "Valerie", "Christine", "Janet", "Maureen", "Linda", "Carol",
    "Ann", "Gillian", "Sandra", "Kathleen", "Doreen", "Irene"};
constexpr string_view kFemaleNamesYounger[] = {
    "Sarah", "Emma", "Claire", "Helen", "Rachel", "Laura", "Sophie", "Emily", "Olivia", "Amelia",
    "Isla", "Grace", "Lucy", "Hannah", "Ruby", "Ella", "Jessica", "Karen", "Julie", "Nicola",
    "Chloe", "Megan", "Charlotte", "Freya"};
constexpr string_view kMaleNamesOlder[] = {
    "John", "David", "Michael", "Peter", "Robert", "James", "William", "Richard", "Brian", "Alan",
    "Kenneth", "Keith", "Derek", "Graham", "Roger", "Colin", "Geoffrey", "Trevor", "Dennis",
    "Raymond", "Anthony", "Malcolm", "Barry", "Terence"};
constexpr string_view kMaleNamesYounger[] = {
    "Paul", "Mark", "Andrew", "Stephen", "Christopher", "Daniel", "Matthew", "Thomas", "Oliver",
    "Harry", "Jack", "George", "Noah", "Leo", "Samuel", "Joseph", "Jacob", "Oscar", "Alfie",
    "Benjamin", "Luke", "Adam", "Ryan", "Liam"};
constexpr string_view kSurnames[] = {
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson",
    "Clarke", "Patel", "Khan", "Lewis", "James", "Hughes", "Edwards", "Harris", "Martin", "Cooper",
    "King", "Baker", "Turner", "Hill", "Moore", "Clark", "Ward", "Morris", "Parker", "Bennett",
    "Cook", "Price", "Bailey", "Shaw", "Mills", "Lee", "Russell", "Palmer", "Grant"};
constexpr string_view kStreetStems[] = {
    "Mellstock", "Weatherbury", "Budmouth", "Egdon", "Durnover", "Froom", "Shottsford",
    "Kingsbere", "Sherton", "Chalkdown", "Hintock", "Lulstead", "Marlott", "Nettlecombe",
    "Abbotsea", "Greyhope", "Wyvern", "Oakhanger", "Stourcastle", "Anglebury", "Emminster"};
constexpr string_view kStreetKinds[] = {
    "Road", "Lane", "Close", "Street", "Avenue", "Gardens", "Way", "Crescent", "Drive", "Terrace"};

// clang-format on

constexpr string_view kTown = "Casterbridge";
constexpr string_view kCounty = "Dorset";
// Inward codes never use C, I, K, M, O or V.
constexpr string_view kInwardLetters = "ABDEFGHJLNPQRSTUWXYZ";

std::string Postcode(DemoRandom& random) {
  std::string out =
      "DT" + std::to_string(random.Between(1, 11)) + " " + std::to_string(random.Between(1, 9));
  out += random.Pick(kInwardLetters);
  out += random.Pick(kInwardLetters);
  return out;
}

}  // namespace

std::string DramaLandline(DemoRandom& random) {
  return "01632 960" + std::to_string(100 + random.Between(0, 899));
}

std::string DramaMobile(DemoRandom& random) {
  return "07700 900" + std::to_string(100 + random.Between(0, 899));
}

json::object Address(DemoRandom& random, string_view use) {
  std::string line = std::to_string(random.Between(1, 160)) + " " +
                     std::string(random.Pick(kStreetStems)) + " " +
                     std::string(random.Pick(kStreetKinds));
  return json::object{
      {"use", use},          {"line", json::array{json::string(line)}}, {"city", kTown},
      {"district", kCounty}, {"postalCode", Postcode(random)},          {"country", "GB"}};
}

PersonName DrawName(DemoRandom& random, bool female, int birth_year) {
  const bool older = birth_year < 1970;
  PersonName name;
  const auto& pool = female ? (older ? kFemaleNamesOlder : kFemaleNamesYounger)
                            : (older ? kMaleNamesOlder : kMaleNamesYounger);
  name.given = random.Pick(pool);
  if (random.Percent(30)) {
    do {
      name.middle = random.Pick(pool);
    } while (name.middle == name.given);
  }
  name.family = random.Pick(kSurnames);
  return name;
}

json::object HumanName(const PersonName& name) {
  json::array given{json::string(name.given)};
  if (!name.middle.empty()) given.emplace_back(json::string(name.middle));
  json::object out{{"use", "official"}, {"family", name.family}, {"given", std::move(given)}};
  if (!name.prefix.empty()) out["prefix"] = json::array{json::string(name.prefix)};
  return out;
}

TestNhsNumbers::TestNhsNumbers(uint64_t seed) : offset_(SplitMix64(seed) % 1000000) {}

std::string TestNhsNumbers::Next() {
  for (;;) {
    // 7919 is coprime to 10^6, so the walk visits each body once.
    const uint64_t body = (counter_++ * 7919 + offset_) % 1000000;
    char digits[11];
    std::snprintf(digits, sizeof digits, "999%06llu", static_cast<unsigned long long>(body));
    int sum = 0;
    for (int i = 0; i < 9; ++i) sum += (digits[i] - '0') * (10 - i);
    int check = 11 - sum % 11;
    if (check == 11) check = 0;
    if (check == 10) continue;
    return std::string(digits, 9) + static_cast<char>('0' + check);
  }
}

}  // namespace carerecord::app::demo
