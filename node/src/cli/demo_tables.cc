#include "cli/demo_tables.h"

namespace posta::node::demo {

namespace {

using SV = std::string_view;

// Senegal.
constexpr SV kSnMale[] = {"Moussa",  "Ibrahima", "Mamadou", "Abdoulaye",
                          "Ousmane", "Cheikh",   "Babacar", "Modou"};
constexpr SV kSnFemale[] = {"Amina", "Fatou", "Aïssatou", "Mariama",
                            "Awa",   "Khady", "Ndèye",    "Coumba"};
constexpr SV kSnFamily[] = {"Diallo", "Ndiaye", "Diop",  "Sow",
                            "Faye",   "Fall",   "Gueye", "Sarr"};
constexpr SV kSnVillages[] = {"Ndiassane",    "Keur Samba", "Thiénaba",
                              "Pire Goureye", "Mékhé",      "Ngaye"};
constexpr SV kSnDistricts[] = {"Tivaouane", "Thiès", "Mbour"};

// Nigeria.
constexpr SV kNgMale[] = {"Chukwuemeka", "Oluwaseun", "Emeka",  "Tunde",
                          "Ikenna",      "Babatunde", "Obinna", "Yusuf"};
constexpr SV kNgFemale[] = {"Ngozi",  "Chiamaka", "Adaeze",   "Funmilayo",
                            "Ifeoma", "Yetunde",  "Blessing", "Zainab"};
constexpr SV kNgFamily[] = {"Okafor",  "Adeyemi", "Okonkwo",  "Eze",
                            "Balogun", "Nwosu",   "Ogunleye", "Abubakar"};
constexpr SV kNgVillages[] = {"Umuoji", "Ogbunike", "Nkpor",
                              "Ukpo",   "Abagana",  "Nteje"};
constexpr SV kNgDistricts[] = {"Idemili North", "Oyi", "Njikoka"};

// Guatemala.
constexpr SV kGtMale[] = {"José",   "Juan Carlos", "Luis",   "Andrés",
                          "Héctor", "Óscar",       "Marvin", "Esteban"};
constexpr SV kGtFemale[] = {"María", "Lucía", "Ana Sofía", "Guadalupe",
                            "Inés",  "Rosa",  "Dolores",   "Yesenia"};
constexpr SV kGtFamily[] = {"García", "Hernández", "López", "Pérez",
                            "Xicará", "Cúmez",     "Gómez", "Núñez"};
constexpr SV kGtVillages[] = {
    "San Andrés Itzapa", "Santa Cruz Balanyá", "Patzún", "Tecpán", "Zaragoza",
    "Comalapa"};
constexpr SV kGtDistricts[] = {"Chimaltenango", "Sololá"};

// Viet Nam: family name first, then a middle name, then the given name.
constexpr SV kVnMale[] = {"An",   "Bình",  "Dũng", "Minh",
                          "Hùng", "Quang", "Tuấn", "Phúc"};
constexpr SV kVnFemale[] = {"Lan",  "Hương", "Mai",   "Thảo",
                            "Ngọc", "Linh",  "Trang", "Hoa"};
constexpr SV kVnMaleMiddle[] = {"Văn", "Đức", "Hữu"};
constexpr SV kVnFemaleMiddle[] = {"Thị", "Ngọc", "Thu"};
constexpr SV kVnFamily[] = {"Nguyễn", "Trần", "Lê",   "Phạm",
                            "Hoàng",  "Võ",   "Đặng", "Bùi"};
constexpr SV kVnVillages[] = {"Xã Tân Phú",  "Xã Hòa Bình", "Xã Mỹ Lợi",
                              "Xã An Thạnh", "Xã Phú An",   "Xã Long Khánh"};
constexpr SV kVnDistricts[] = {"Huyện Cái Bè", "Huyện Châu Thành"};

// Türkiye.
constexpr SV kTrMale[] = {"Çağlar",  "Emre",    "Mehmet",  "Oğuz",
                          "Mustafa", "İbrahim", "Hüseyin", "Yusuf"};
constexpr SV kTrFemale[] = {"Ayşe",  "Elif",   "Gülşen", "Zeynep",
                            "Fatma", "Şükran", "Özlem",  "Hatice"};
constexpr SV kTrFamily[] = {"Yılmaz", "Kaya",   "Demir", "Çelik",
                            "Şahin",  "Öztürk", "Aydın", "Doğan"};
constexpr SV kTrVillages[] = {"Kızılcaköy", "Yeşilyurt",  "Akçakale",
                              "Göktaş",     "Büyükçaylı", "Ören"};
constexpr SV kTrDistricts[] = {"Viranşehir", "Siverek", "Harran"};

// Kenya.
constexpr SV kKeMale[] = {"Kamau",  "Otieno",   "Kiprop",  "Mwangi",
                          "Omondi", "Kipchoge", "Njoroge", "Wekesa"};
constexpr SV kKeFemale[] = {"Wanjiru", "Achieng", "Njeri",  "Auma",
                            "Chebet",  "Wambui",  "Akinyi", "Nafula"};
constexpr SV kKeFamily[] = {"Odhiambo", "Mutua",   "Kiprotich", "Wafula",
                            "Kariuki",  "Onyango", "Chege",     "Ruto"};
constexpr SV kKeVillages[] = {"Nyakach", "Kombewa", "Katito",
                              "Ahero",   "Awasi",   "Sondu"};
constexpr SV kKeDistricts[] = {"Kisumu West", "Nyando", "Muhoroni"};

// Nepal.
constexpr SV kNpMale[] = {"Ram",     "Hari",     "Bikash",  "Suresh",
                          "Prakash", "Dipendra", "Krishna", "Sanjay"};
constexpr SV kNpFemale[] = {"Sita",   "Gita",   "Priya", "Anjali",
                            "Sunita", "Kamala", "Laxmi", "Sarita"};
constexpr SV kNpFamily[] = {"Sharma",   "Thapa", "Gurung", "Tamang",
                            "Shrestha", "Magar", "Rai",    "Adhikari"};
constexpr SV kNpVillages[] = {"Salyantar", "Dhunibesi",  "Gajuri",
                              "Benighat",  "Jwalamukhi", "Siddhalek"};
constexpr SV kNpDistricts[] = {"Dhading", "Gorkha"};

constexpr Region kRegions[] = {
    {"SN",
     "Z",
     "+221 77 ",
     7,
     false,
     kSnMale,
     kSnFemale,
     {},
     {},
     kSnFamily,
     kSnVillages,
     kSnDistricts},
    {"NG",
     "+01:00",
     "+234 803 ",
     7,
     false,
     kNgMale,
     kNgFemale,
     {},
     {},
     kNgFamily,
     kNgVillages,
     kNgDistricts},
    {"GT",
     "-06:00",
     "+502 5",
     7,
     false,
     kGtMale,
     kGtFemale,
     {},
     {},
     kGtFamily,
     kGtVillages,
     kGtDistricts},
    {"VN", "+07:00", "+84 9", 8, true, kVnMale, kVnFemale, kVnMaleMiddle,
     kVnFemaleMiddle, kVnFamily, kVnVillages, kVnDistricts},
    {"TR",
     "+03:00",
     "+90 5",
     9,
     false,
     kTrMale,
     kTrFemale,
     {},
     {},
     kTrFamily,
     kTrVillages,
     kTrDistricts},
    {"KE",
     "+03:00",
     "+254 7",
     8,
     false,
     kKeMale,
     kKeFemale,
     {},
     {},
     kKeFamily,
     kKeVillages,
     kKeDistricts},
    {"NP",
     "+05:45",
     "+977 98",
     8,
     false,
     kNpMale,
     kNpFemale,
     {},
     {},
     kNpFamily,
     kNpVillages,
     kNpDistricts},
};

constexpr Diagnosis kDiagnoses[] = {
    {"A09", "Infectious gastroenteritis and colitis, unspecified", 0, 120,
     false, 14, true, false},
    {"J06.9", "Acute upper respiratory infection, unspecified", 0, 120, false,
     18, false, false},
    {"B54", "Unspecified malaria", 0, 120, false, 10, true, false},
    {"J18.9", "Pneumonia, unspecified organism", 0, 120, false, 4, true, false},
    {"R50.9", "Fever, unspecified", 0, 120, false, 6, true, false},
    {"N39.0", "Urinary tract infection, site not specified", 5, 120, false, 5,
     false, false},
    {"L30.9", "Dermatitis, unspecified", 0, 120, false, 4, false, false},
    {"D64.9", "Anaemia, unspecified", 0, 120, false, 4, false, false},
    {"Z00.1", "Routine child health examination", 0, 5, false, 8, false, false},
    {"I10", "Essential (primary) hypertension", 35, 120, false, 10, false,
     true},
    {"E11.9", "Type 2 diabetes mellitus without complications", 35, 120, false,
     6, false, false},
    {"Z34.9", "Supervision of normal pregnancy, unspecified", 16, 45, true, 6,
     false, false},
};

}  // namespace

std::span<const Region> Regions() { return kRegions; }
std::span<const Diagnosis> Diagnoses() { return kDiagnoses; }

}  // namespace posta::node::demo
